"""`paymentUpdated` delivers a change made through REST, published by the worker's
notifier through the real Redis, to a websocket client."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
import redis
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis.client import PubSub
from starlette.testclient import WebSocketTestSession

from paysource.adapters.redis.feed import PaymentFeed
from paysource.adapters.redis.publisher import RedisChannels
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.bootstrap import Container
from paysource.entrypoints.http.graphql import websocket
from paysource.processes.notifier import (
    NEW_PAYMENTS_PREFIX,
    PaymentChanged,
    PaymentNotifier,
    channel,
    new_payments_channel,
)
from tests.graphql.helpers import token
from tests.helpers import admin, drain

SUBSCRIPTION = (
    "subscription($id: ID!) { paymentUpdated(id: $id) { __typename"
    " ... on Payment { id status version amountCaptured { amountMinor } customer { name } } } }"
)


def _notify(container: Container) -> None:
    """What the worker's notifier job does, run to the head of the log."""
    assert container.settings.redis_url
    for cell in container.router.all():
        channels = RedisChannels(container.settings.redis_url)
        notifier = PaymentNotifier(cell.store, channels.publish, listened=channels.listened)
        run_until_caught_up(Follower(cell.store, notifier, wakeup=Wakeup()))


def _subscribe(ws: WebSocketTestSession, key: str, payment: str) -> None:
    ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    assert ws.receive_json()["type"] == "connection_ack"
    ws.send_json(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": SUBSCRIPTION, "variables": {"id": payment}},
        }
    )


def _next(ws: WebSocketTestSession) -> dict[str, Any]:
    message = ws.receive_json()
    assert message["type"] == "next", message
    data: dict[str, Any] = message["payload"]["data"]["paymentUpdated"]
    return data


def test_a_capture_made_through_rest_reaches_the_subscriber(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    customer = api.post("/v1/customers", {"name": "Ada"}).json()["id"]
    payment = api.pay(3000, capture_method="manual", customer=customer).json()["id"]
    drain(container)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        _subscribe(ws, api.key, payment)
        now = _next(ws)
        assert (now["status"], now["customer"]) == ("REQUIRES_CAPTURE", {"name": "Ada"})
        assert api.post(f"/v1/payments/{payment}/capture").status_code == 200
        _notify(container)  # also republishes the older events: dropped by version
        update = _next(ws)
        assert update["id"] == payment
        assert update["status"] == "SUCCEEDED"
        assert update["amountCaptured"] == {"amountMinor": "3000"}
        assert update["version"] == now["version"] + 1


def test_a_websocket_without_a_valid_credential_is_closed(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        message = ws.receive()
    assert message == {"type": "websocket.close", "code": 4403, "reason": "Forbidden"}


def test_the_notifier_publishes_each_change_once_per_batch_and_keeps_its_position(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    payment = api.pay(1000).json()["id"]
    drain(container)
    published: list[tuple[str, bytes]] = []
    calls: list[int] = []

    def publish(messages: Sequence[tuple[str, bytes]]) -> None:
        calls.append(len(messages))
        published.extend(messages)

    cell = container.router.all()[0]
    notifier = PaymentNotifier(cell.store, publish)
    run_until_caught_up(Follower(cell.store, notifier, wakeup=Wakeup()))
    assert calls == [5]  # one batch, one round trip
    changes = [PaymentChanged.decode(message) for _, message in published]
    assert [c.event for c in changes if c.event != "Payment.Created"] == [
        "Payment.Authorized",
        "Payment.Captured",
    ]
    merchant_channels = {new_payments_channel(None)} | {
        name for name, _ in published if name.startswith(NEW_PAYMENTS_PREFIX)
    }
    assert {name for name, _ in published} == {channel(changes[0].payment_id), *merchant_channels}
    assert len(merchant_channels) == 2  # the merchant's and staff's, for Created only
    assert changes[0].payment_id.hex == payment.removeprefix("pay_")
    # At its last event: the payment's last, CaptureConfirmed, changes neither its status
    # nor its refunds, so the notifier does not follow it (docs/graphql.md).
    [(last, _)] = cell.store.select(after=0, limit=100, topics=notifier.topics)[-1:]
    assert notifier.position() == last
    run_until_caught_up(Follower(cell.store, notifier, wakeup=Wakeup()))
    assert len(published) == 5  # resumed from its position: nothing twice


def test_the_notifier_publishes_only_where_someone_listens(
    client: TestClient, container: Container, redis_url: str
) -> None:
    """Under load almost no channel has a subscriber: only the listened ones are encoded
    and published, and a subscriber still hears every change of its payment."""
    api = admin(client).merchant()
    heard, unheard = (UUID(hex=api.pay(n).json()["id"].removeprefix("pay_")) for n in (1, 2))
    drain(container)
    with redis.Redis.from_url(redis_url).pubsub() as listener:
        _notify_where_heard(container, listener, redis_url, heard, unheard)


def _notify_where_heard(
    container: Container, listener: PubSub, redis_url: str, heard: UUID, unheard: UUID
) -> None:
    listener.subscribe(channel(heard))
    assert listener.get_message(timeout=5)["type"] == "subscribe"  # confirmed
    channels = RedisChannels(redis_url)
    assert channels.listened([channel(heard), channel(unheard)]) == {channel(heard)}
    published: list[tuple[str, bytes]] = []

    def publish(messages: Sequence[tuple[str, bytes]]) -> None:
        published.extend(messages)
        channels.publish(messages)

    cell = container.router.all()[0]
    notifier = PaymentNotifier(cell.store, publish, listened=channels.listened)
    run_until_caught_up(Follower(cell.store, notifier, wakeup=Wakeup()))
    events = ["Payment.Created", "Payment.Authorized", "Payment.Captured"]
    assert {name for name, _ in published} == {channel(heard)}
    assert [PaymentChanged.decode(m).event for _, m in published] == events
    received = [listener.get_message(timeout=5) for _ in events]
    assert [PaymentChanged.decode(m["data"]) for m in received if m] == [
        PaymentChanged.decode(m) for _, m in published
    ]


def test_one_redis_connection_serves_every_subscription_of_a_process(redis_url: str) -> None:
    payments = [uuid4() for _ in range(10)]

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(redis_url)
        before = len(await redis.client_list(_type="pubsub"))
        feed = PaymentFeed(redis_url)
        try:
            async with AsyncExitStack() as stack:
                streams = [
                    await stack.enter_async_context(
                        feed.changes(payments[n % 10], owner=f"merchant:{n % 3}")
                    )
                    for n in range(150)
                ]
                assert len(await redis.client_list(_type="pubsub")) == before + 1
                assert feed.count("merchant:0") == 50
                change = PaymentChanged(payments[0], 7, "Payment.Captured", datetime.now(UTC))
                await redis.publish(channel(payments[0]), change.encode())
                for stream in streams[::10]:  # every subscriber of payments[0]
                    assert await asyncio.wait_for(anext(stream), 5) == change
            assert feed.count("merchant:0") == 0
            numsub = await redis.pubsub_numsub(*(channel(p) for p in payments))
            assert [count for _, count in numsub] == [0] * 10  # unsubscribed when left
        finally:
            await feed.close()
            await redis.aclose()

    asyncio.run(scenario())


def _start(ws: WebSocketTestSession, operation: str, payment: str) -> None:
    ws.send_json(
        {
            "id": operation,
            "type": "subscribe",
            "payload": {"query": SUBSCRIPTION, "variables": {"id": payment}},
        }
    )


def _connect(ws: WebSocketTestSession, key: str) -> None:
    ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    assert ws.receive_json()["type"] == "connection_ack"


def test_a_merchant_cannot_take_every_subscription_of_a_process(
    app: FastAPI, client: TestClient, container: Container
) -> None:
    app.state.graphql.feed.max_per_owner = 2
    a, b = admin(client).merchant("A"), admin(client).merchant("B")
    a_payment, b_payment = a.pay(1000).json()["id"], b.pay(1000).json()["id"]
    protocol = ["graphql-transport-ws"]
    with (
        client.websocket_connect("/graphql", subprotocols=protocol) as first,
        client.websocket_connect("/graphql", subprotocols=protocol) as second,
    ):
        _connect(first, a.key)
        _connect(second, token(a))  # a token of A counts against A's quota too
        for operation in ("1", "2"):
            _start(first, operation, a_payment)
            assert first.receive_json()["type"] == "next"
        _start(second, "3", a_payment)
        refused = second.receive_json()
        assert refused["type"] == "next"
        (error,) = refused["payload"]["errors"]
        assert error["extensions"] == {"code": "too_many_subscriptions", "limit": 2}
        assert second.receive_json() == {"id": "3", "type": "complete"}
        # Another merchant is not affected; A may subscribe again once one ends.
        with client.websocket_connect("/graphql", subprotocols=protocol) as third:
            _connect(third, b.key)
            _start(third, "1", b_payment)
            assert _next(third)["id"] == b_payment
        first.send_json({"id": "1", "type": "complete"})
        _start(second, "4", a_payment)
        assert _next(second)["id"] == a_payment


def test_a_connection_runs_a_bounded_number_of_operations(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websocket, "MAX_SUBSCRIPTIONS_PER_CONNECTION", 2)
    api = admin(client).merchant()
    payment = api.pay(1000).json()["id"]
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        _connect(ws, api.key)
        for operation in ("1", "2"):
            _start(ws, operation, payment)
            assert ws.receive_json()["type"] == "next"
        _start(ws, "3", payment)
        refused = ws.receive_json()
        assert (refused["id"], refused["type"]) == ("3", "error")
        assert refused["payload"][0]["extensions"] == {"code": "too_many_subscriptions", "limit": 2}
