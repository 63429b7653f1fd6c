"""Postgres going away: quick 503s that say retry, nothing half-written, and service
again within seconds of its return, without restarting anything.

The outage is a TCP proxy between paysource and the test Postgres that drops every
connection and refuses new ones, so the shared server keeps running for other tests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devtools.localservices import free_port
from paysource.bootstrap import Container, build_container
from paysource.config import Settings
from tests.helpers import admin, drain, live_server, new_key


class Outage:
    """A loopback TCP proxy to `upstream` that can cut every connection (`cut`) and
    refuse new ones until `restore`."""

    def __init__(self, upstream_port: int) -> None:
        self.port = free_port()
        self._upstream = upstream_port
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        assert self._listener is not None
        self._listener.close()
        self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            with self._lock:
                self._sockets |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@pytest.fixture
def outage(settings: Settings) -> Outage:
    assert settings.database_url
    return Outage(int(conninfo_to_dict(settings.database_url)["port"] or 5432))


@pytest.fixture
def proxied(settings: Settings, outage: Outage) -> Iterator[Container]:
    assert settings.database_url
    url = make_conninfo(settings.database_url, port=str(outage.port))
    container = build_container(settings.model_copy(update={"database_url": url}))
    yield container
    container.close()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def first_success(call: Callable[[], httpx.Response], *, within_s: float) -> float:
    started = time.monotonic()
    while (response := call()).status_code >= 500:
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < within_s, "no recovery in time"
        time.sleep(0.2)
    return time.monotonic() - started


def drain_again(container: Container) -> None:
    # The simulators' connections died with the outage; like the worker, retry the
    # batch once they have noticed (each reconnects on its next use).
    for _ in range(3):
        with contextlib.suppress(psycopg.OperationalError):
            drain(container)
            return
    drain(container)


def test_an_outage_answers_quick_503s_and_service_returns_soon_after_postgres(
    proxied: Container, outage: Outage
) -> None:
    with live_server(proxied) as base:
        client = httpx.Client(base_url=base, timeout=60)
        merchant = admin(client).merchant()
        assert merchant.pay(1000).status_code == 202
        drain(proxied)

        outage.cut()
        first, first_s = timed(lambda: merchant.get("/v1/payments"))
        key = new_key()
        refused, refused_s = timed(lambda: merchant.pay(2000, key=key))

        assert first.status_code == 503, first.text
        assert first.headers["content-type"] == "application/problem+json"
        assert first_s < 2.5  # the request's database budget (2 s), retries included
        assert (refused.status_code, refused.headers["retry-after"]) == (503, "2")
        assert refused_s < 1  # known down: refused before touching the database
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503

        outage.restore()
        assert first_success(lambda: merchant.get("/v1/payments"), within_s=20) < 20
        # The refused payment was never written: its retry creates it, once.
        assert merchant.pay(2000, key=key).status_code == 202
        assert merchant.pay(2000, key=key).headers["idempotent-replayed"] == "true"
        drain_again(proxied)
        amounts = sorted(p["amount"] for p in merchant.get("/v1/payments").json()["data"])
        assert amounts == [1000, 2000]
