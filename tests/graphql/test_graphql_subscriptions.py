"""`paymentUpdated` delivers a change made through REST, published by the worker's
notifier through the real Redis, to a websocket client."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from paysource.application.follower import Follower, Wakeup, run_until_caught_up
from paysource.application.notifier import PaymentChanged, PaymentNotifier, channel
from paysource.bootstrap import Container
from tests.helpers import admin, drain

SUBSCRIPTION = (
    "subscription($id: ID!) { paymentUpdated(id: $id) { __typename"
    " ... on Payment { id status version amountCaptured { amountMinor } customer { name } } } }"
)


def _notify(container: Container) -> None:
    """What the worker's notifier job does, run to the head of the log."""
    assert container.settings.redis_url
    for cell in container.router.all():
        notifier = PaymentNotifier.for_redis(cell.store, container.settings.redis_url)
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
    cell = container.router.all()[0]
    notifier = PaymentNotifier(cell.store, lambda name, message: published.append((name, message)))
    run_until_caught_up(Follower(cell.store, notifier, wakeup=Wakeup()))
    changes = [PaymentChanged.decode(message) for _, message in published]
    assert [c.event for c in changes] == [
        "Payment.Created",
        "Payment.Authorized",
        "Payment.Captured",
    ]
    assert {name for name, _ in published} == {channel(changes[0].payment_id)}
    assert changes[0].payment_id.hex == payment.removeprefix("pay_")
    assert notifier.position() == cell.store.head()
    run_until_caught_up(Follower(cell.store, notifier, wakeup=Wakeup()))
    assert len(published) == 3  # resumed from its position: nothing twice
