"""The event relay onto a 3-node NATS JetStream cluster on loopback (issue 15).

While payments are made, the stream's leader is killed (kill -9); afterwards every
indexed event of the cell is in the stream exactly once, under its merchant's subject,
and the stream is in log order. A relay that forgot its position (a fresh process)
appends nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from devtools.localnats import LocalNatsCluster
from paysource.bootstrap import Container, build_container, event_relay
from paysource.config import Settings
from paysource.entrypoints.http.app import create_app
from paysource.entrypoints.worker import Worker
from paysource.processes import relay as relaying
from tests.conftest import ADMIN_KEY
from tests.helpers import admin, drain, live_server

pytestmark = pytest.mark.slow

STREAM = "PAYSOURCE_CELL_0"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalNatsCluster]:
    with LocalNatsCluster.start(tmp_path, size=3) as started:
        yield started


@pytest.fixture
def relayed(settings: Settings, cluster: LocalNatsCluster) -> Iterator[Container]:
    with_nats = settings.model_copy(
        update={
            "nats_url": SecretStr(cluster.url),
            "nats_replicas": 3,
            "nats_batch_size": 25,  # many batches, so the kill lands between and inside them
            "nats_timeout_s": 2.0,
        }
    )
    built = build_container(with_nats)
    yield built
    built.close()


def stream_messages(servers: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(subject, Nats-Msg-Id, body) of every message of the stream, in stream order."""

    async def read() -> list[tuple[str, str, dict[str, Any]]]:
        nc = await nats.connect(servers=servers)
        try:
            js = nc.jetstream()
            info = await js.stream_info(STREAM)
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(STREAM, seq=seq)
                assert msg.subject is not None
                assert msg.data is not None
                headers = msg.headers or {}
                found.append((msg.subject, str(headers["Nats-Msg-Id"]), json.loads(msg.data)))
            return found
        finally:
            await nc.close()

    return asyncio.run(read())


def indexed_positions(database_url: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT position FROM event_index ORDER BY position").fetchall()
    return [int(row[0]) for row in rows]


def stream_leader(servers: list[str]) -> str:
    async def ask() -> str:
        nc = await nats.connect(servers=servers)
        try:
            info = await nc.jetstream().stream_info(STREAM)
            assert info.cluster is not None
            assert info.cluster.leader is not None
            return info.cluster.leader
        finally:
            await nc.close()

    return asyncio.run(ask())


def pay_steadily(url: str, keys: list[str], stop: threading.Event, made: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        n = 0
        while not stop.is_set():
            key = keys[n % len(keys)]
            answer = client.post(
                "/v1/payments",
                json={"amount": 1000 + n, "currency": "USD", "source": "tok_visa"},
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"relay-{n}"},
            )
            assert answer.status_code in (201, 202), answer.text
            made.append(answer.json()["id"])
            n += 1


def relayed_positions(servers: list[str]) -> list[int]:
    return [int(msg_id.rpartition(":")[2]) for _, msg_id, _ in stream_messages_or_none(servers)]


def wait_until_relayed(servers: list[str], database_url: str) -> None:
    """Until the stream holds exactly the index, and the index stopped growing."""
    deadline, seen = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        positions = indexed_positions(database_url)
        if positions == seen and relayed_positions(servers) == positions:
            return
        seen = positions
        time.sleep(1.0)
    raise AssertionError("the relay did not catch up within 60 s")


def test_every_event_once_in_log_order_through_a_leader_kill(
    relayed: Container, cluster: LocalNatsCluster, database_url: str
) -> None:
    worker = Worker(relayed)
    worker.start()
    stop, made = threading.Event(), []
    try:
        with live_server(relayed) as url, httpx.Client(base_url=url) as client:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            merchants = [
                client.post("/v1/merchants", json={"name": f"M{i}"}, headers=admin).json()
                for i in range(2)
            ]
            load = threading.Thread(
                target=pay_steadily, args=(url, [m["api_key"] for m in merchants], stop, made)
            )
            load.start()
            while len(relayed_positions(cluster.urls)) < 30:
                time.sleep(0.2)
            leader = stream_leader(cluster.urls)
            cluster.kill(int(leader.removeprefix("n")))
            time.sleep(3)  # payments go on while the stream elects a new leader
            stop.set()
            load.join()
        survivors = [node.url for node in cluster.nodes if node.running]
        wait_until_relayed(survivors, database_url)
    finally:
        stop.set()
        worker.stop()

    messages = stream_messages(survivors)
    positions = [int(msg_id.rpartition(":")[2]) for _, msg_id, _ in messages]
    assert len(made) > 20
    assert positions == indexed_positions(database_url)  # all, once each, in log order
    assert len(set(positions)) == len(positions)
    merchant_ids = {m["id"] for m in merchants}
    for subject, msg_id, body in messages:
        assert msg_id == f"cell-0:{body['position']}"
        assert subject == f"paysource.cell-0.{body['merchant']}.{body['type']}"
        assert body["merchant"] in merchant_ids
    paid = {body["object_id"] for _, _, body in messages if body["type"] == "Payment.Created"}
    assert set(made) <= paid  # every acknowledged payment reached the stream


def stream_messages_or_none(servers: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    try:
        return stream_messages(servers)
    except Exception:  # noqa: BLE001  # the stream is made by the relay's first batch
        return []


def shorten_duplicate_window(servers: list[str]) -> None:
    async def shorten() -> None:
        nc = await nats.connect(servers=servers)
        try:
            js = nc.jetstream()
            config = (await js.stream_info(STREAM)).config
            config.duplicate_window = 0.1
            await js.update_stream(config)
        finally:
            await nc.close()

    asyncio.run(shorten())
    time.sleep(0.3)


def test_a_relay_that_forgot_its_position_appends_nothing_twice(
    relayed: Container, cluster: LocalNatsCluster, database_url: str
) -> None:
    worker = Worker(relayed)
    worker.start()
    try:
        with live_server(relayed) as url, httpx.Client(base_url=url) as client:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            merchant = client.post("/v1/merchants", json={"name": "M"}, headers=admin).json()
            auth = {"Authorization": f"Bearer {merchant['api_key']}"}
            for n in range(5):
                body = {"amount": 500, "currency": "EUR", "source": "tok_visa"}
                headers = {**auth, "Idempotency-Key": f"forgot-{n}"}
                assert client.post("/v1/payments", json=body, headers=headers).is_success
        wait_until_relayed(cluster.urls, database_url)
    finally:
        worker.stop()
    before = stream_messages(cluster.urls)
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM projection_tracking WHERE application_name = 'event-relay'")

    shorten_duplicate_window(cluster.urls)  # so only the relay itself can avoid duplicates
    fresh = event_relay(relayed.settings, relayed.router.directory)
    assert fresh is not None
    assert fresh.position() == 0
    assert fresh.relay_next() is False  # the stream says it has everything
    assert stream_messages(cluster.urls) == before
    fresh.stream.close()


def test_the_relay_goes_on_after_a_bus_restart_that_forgot_the_last_msg_id(
    settings: Settings, tmp_path: Path, database_url: str
) -> None:
    """nats-server restores a stream's last msg id on restart only if that message is
    inside the duplicate window (nats-io/nats-server#8564): after a quiet period longer
    than the window, `Nats-Expected-Last-Msg-Id` is refused (10070) whatever it names.
    The relay goes on from the stream's real last message, and a stale one still can't."""
    with LocalNatsCluster.start(tmp_path, size=1) as single:
        with_nats = settings.model_copy(
            update={"nats_url": SecretStr(single.url), "nats_timeout_s": 2.0}
        )
        built = build_container(with_nats)
        try:
            with TestClient(create_app(built)) as client:
                merchant = admin(client).merchant("A")
                assert merchant.pay(1000).status_code in (201, 202)
                drain(built)
                relay = event_relay(built.settings, built.router.directory)
                assert relay is not None
                while relay.relay_next():
                    pass
                relay.stream.close()
                first = indexed_positions(database_url)
                assert relayed_positions(single.urls) == first
                assert len(first) > 1

                shorten_duplicate_window(single.urls)
                time.sleep(1.0)  # quiet for longer than the duplicate window
                single.nodes[0].halt(signal.SIGTERM)
                single.restart(0)

                assert merchant.pay(2000).status_code in (201, 202)
                drain(built)
                # A stale relay (it believes an older message is the last) is refused.
                stale = event_relay(built.settings, built.router.directory)
                assert stale is not None
                later = [
                    relaying.message("cell-0", row) for row in stale.rows.after(first[-1], limit=1)
                ]
                with pytest.raises(Exception):  # noqa: B017, PT011  # nats-py's APIError
                    stale.stream.append(later, after=relaying.msg_id("cell-0", first[-2]))
                stale.stream.close()
                assert relayed_positions(single.urls) == first

                while relay.relay_next():  # the relay that remembers its position
                    pass
                relay.stream.close()
                assert relayed_positions(single.urls) == indexed_positions(database_url)
                assert len(indexed_positions(database_url)) > len(first)

                assert merchant.pay(3000).status_code in (201, 202)
                drain(built)
                fresh = event_relay(built.settings, built.router.directory)  # one that asks
                assert fresh is not None
                while fresh.relay_next():
                    pass
                fresh.stream.close()
        finally:
            built.close()
        assert relayed_positions(single.urls) == indexed_positions(database_url)
