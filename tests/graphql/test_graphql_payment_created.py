"""`paymentCreated` announces each new payment to its own merchant (and to staff) only,
through the worker's notifier and the real Redis."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from paysource.adapters.redis.publisher import RedisChannels
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.bootstrap import Container
from paysource.processes.notifier import PaymentNotifier
from tests.helpers import ADMIN_KEY, admin, drain

CREATED = "subscription { paymentCreated { id status amount { amountMinor currency } } }"


def _notify(container: Container) -> None:
    assert container.settings.redis_url
    for cell in container.router.all():
        channels = RedisChannels(container.settings.redis_url)
        notifier = PaymentNotifier(cell.store, channels.publish, listened=channels.listened)
        run_until_caught_up(Follower(cell.store, notifier, wakeup=Wakeup()))


def _watch(ws: WebSocketTestSession, key: str) -> None:
    ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
    assert ws.receive_json()["type"] == "connection_ack"
    ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": CREATED}})


def _created(ws: WebSocketTestSession) -> dict[str, Any]:
    message = ws.receive_json()
    assert message["type"] == "next", message
    data: dict[str, Any] = message["payload"]["data"]["paymentCreated"]
    return data


def test_each_merchant_hears_of_its_own_new_payments_and_staff_of_all(
    client: TestClient, container: Container
) -> None:
    a, b = admin(client).merchant("A"), admin(client).merchant("B")
    drain(container)
    _notify(container)  # nothing created before the subscriptions is announced
    protocol = ["graphql-transport-ws"]
    with (
        client.websocket_connect("/graphql", subprotocols=protocol) as for_a,
        client.websocket_connect("/graphql", subprotocols=protocol) as for_staff,
    ):
        _watch(for_a, a.key)
        _watch(for_staff, ADMIN_KEY)
        b_payment = b.pay(700).json()["id"]
        a_payment = a.pay(2500, capture_method="manual").json()["id"]
        _notify(container)
        created = _created(for_a)
        assert created == {
            "id": a_payment,
            "status": "PROCESSING",
            "amount": {"amountMinor": "2500", "currency": "USD"},
        }
        assert {_created(for_staff)["id"], _created(for_staff)["id"]} == {a_payment, b_payment}
        # B's payment never reached A: the next message A gets is its own next payment.
        later = a.pay(100).json()["id"]
        _notify(container)
        assert _created(for_a)["id"] == later
