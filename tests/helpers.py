"""Helpers for tests that drive paysource through its real API and real worker code."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from devtools.localservices import free_port
from paysource.adapters.postgres.health import OutageGate, PoolHealth
from paysource.adapters.postgres.moves import PostgresCopiedRanges
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.bootstrap import Cell, Container, dispute_notices_of
from paysource.entrypoints.http.app import create_app
from paysource.processes.disputes import DisputeNoticeProcessor
from paysource.processes.pipeline import PaymentProcessor, RetryPolicy
from paysource.readmodels.view import ProjectionHandler
from tests.conftest import ADMIN_KEY


def processor_of(container: Container, cell: Cell) -> PaymentProcessor:
    """The worker's payment processor for `cell` (one partition), with quick retries."""
    return PaymentProcessor(
        cell.store,
        container.acquirer,
        cell.read.payments,
        container.clock,
        retry=RetryPolicy(attempts=2, base_delay_s=0.01),
        fees=cell.fees,  # from the directory, whichever cell this is
    )


def drain(container: Container, *, rounds: int = 20, batch_size: int = 200) -> None:
    """Run the processor and every projection until the log stops growing."""
    notices = dispute_notices_of(container.acquirer)
    for cell in container.router.all():
        disputes = (
            []
            if notices is None
            else [DisputeNoticeProcessor(cell.store, notices, container.clock)]
        )
        handlers = [
            processor_of(container, cell),
            *disputes,  # the simulator's chargebacks (tok_disputed), as the worker's job
            *[ProjectionHandler(projection) for projection in cell.read.projections()],
        ]
        for _ in range(rounds):
            head = cell.store.head()
            for handler in handlers:
                # As the worker: what acts outside the log skips events a move copied in.
                acts = not isinstance(handler, ProjectionHandler)
                follower = Follower(
                    cell.store,
                    handler,
                    wakeup=Wakeup(),
                    batch_size=batch_size,
                    skip_copied=PostgresCopiedRanges(cell.read.datastore) if acts else None,
                )
                run_until_caught_up(follower)
            if cell.store.head() == head:
                break


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key() -> str:
    return str(uuid.uuid4())


class Api:
    """A small client of the REST API, for a merchant or the admin."""

    def __init__(self, client: httpx.Client, key: str) -> None:
        self.client = client
        self.key = key

    def post(self, path: str, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        all_headers = {**bearer(self.key), **{k.replace("_", "-"): v for k, v in headers.items()}}
        return self.client.post(path, json=body if body is not None else {}, headers=all_headers)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, headers=bearer(self.key), params=params)

    def merchant(self, name: str = "Acme") -> Api:
        response = self.post("/v1/merchants", {"name": name})
        assert response.status_code == 201, response.text
        return Api(self.client, response.json()["api_key"])

    def pay(self, amount: int = 1000, *, key: str | None = None, **fields: Any) -> httpx.Response:
        body = {"amount": amount, "currency": "USD", "source": "tok_visa", **fields}
        return self.post("/v1/payments", body, Idempotency_Key=key or new_key())


def admin(client: httpx.Client) -> Api:
    return Api(client, ADMIN_KEY)


@contextmanager
def live_server(container: Container) -> Iterator[str]:
    """Serve the API over real HTTP on a free port (for concurrency tests)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(container), host="127.0.0.1", port=port, log_level="warning", workers=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(condition: Callable[[], bool], what: str, *, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def probes_fail(gate: OutageGate, monkeypatch: pytest.MonkeyPatch, request: Any) -> None:
    """A gate closes only when its probe cannot connect either (issue 12: a failed request
    alone does not close it). Make the probes fail while the test looks, then let the gate
    open again, pass or fail: other tests share it."""
    monkeypatch.setattr(PoolHealth, "_reachable", lambda _: False)

    def reopen() -> None:
        monkeypatch.undo()
        wait_for(lambda: not gate.down, "the gate did not open again")

    request.addfinalizer(reopen)
