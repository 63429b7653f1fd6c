"""`POST /v1/payments` without `Prefer: wait` is made on the event loop: the plain case
(a known card, no customer) by `create_payment_awaiting`, which holds no thread; every
other case, and every retry Redis cannot answer, by the threaded `create_payment`. Each
way answers as the other would."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
import redis
from fastapi.testclient import TestClient

from paysource.application.ids import Kind, decode
from paysource.application.payments import PaymentService
from paysource.config import Settings
from tests.helpers import Api, admin, new_key


@pytest.fixture
def ways(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which way each creation went: on the loop (`loop`: made there; `loop-replayed`:
    its key's payment replayed; `loop-refused`: an error such as 422; `loop-declined`:
    handed to the threaded command) or `thread`."""
    taken: list[str] = []
    awaiting, threaded = PaymentService.create_payment_awaiting, PaymentService.create_payment

    async def on_loop(self: PaymentService, **fields: Any) -> Any:
        try:
            outcome = await awaiting(self, **fields)
        except Exception:
            taken.append("loop-refused")
            raise
        if outcome is None:
            taken.append("loop-declined")
        else:
            taken.append("loop-replayed" if outcome.replayed else "loop")
        return outcome

    def in_thread(self: PaymentService, **fields: Any) -> Any:
        taken.append("thread")
        return threaded(self, **fields)

    monkeypatch.setattr(PaymentService, "create_payment_awaiting", on_loop)
    monkeypatch.setattr(PaymentService, "create_payment", in_thread)
    return taken


def _forget_answers(settings: Settings, merchant_id: UUID) -> None:
    """What an expired answer looks like: Redis no longer holds the merchant's keys."""
    client = redis.Redis.from_url(settings.redis_url or "")
    for slot in client.scan_iter(f"idem:{merchant_id}:*"):
        client.delete(slot)
    client.close()


def test_a_plain_payment_takes_no_thread_and_its_retries_answer_alike(
    client: TestClient, settings: Settings, ways: list[str]
) -> None:
    merchant = admin(client).merchant("Loop")
    key = new_key()

    first = merchant.pay(1000, key=key)
    assert first.status_code == 202, first.text
    assert ways == ["loop"]

    replayed = merchant.pay(1000, key=key)  # answered by Redis: no command at all
    assert (replayed.status_code, replayed.json()) == (202, first.json())
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert ways == ["loop"]

    _forget_answers(settings, decode(Kind.MERCHANT, first.json()["merchant"]))
    from_log = merchant.pay(1000, key=key)  # the insert finds the key's payment: replayed
    assert (from_log.status_code, from_log.json()) == (202, first.json())
    assert from_log.headers["Idempotent-Replayed"] == "true"
    assert ways == ["loop", "loop-replayed"]

    _forget_answers(settings, decode(Kind.MERCHANT, first.json()["merchant"]))
    other = merchant.pay(2000, key=key)
    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("/idempotency_key_reused"), other.json()
    assert ways == ["loop", "loop-replayed", "loop-refused"]


def test_what_is_not_plain_goes_to_the_threaded_command(
    client: TestClient, ways: list[str]
) -> None:
    merchant: Api = admin(client).merchant("Threads")
    customer = merchant.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=new_key())
    assert customer.status_code == 201, customer.text

    with_customer = merchant.pay(1000, customer=customer.json()["id"])
    assert with_customer.status_code == 202, with_customer.text
    unknown_card = merchant.pay(1000, source="tok_unknown")
    assert unknown_card.status_code == 422, unknown_card.text
    assert unknown_card.json()["type"].endswith("/invalid_source"), unknown_card.json()
    waited = merchant.post(
        "/v1/payments",
        {"amount": 1000, "currency": "USD", "source": "tok_visa"},
        Idempotency_Key=new_key(),
        Prefer="wait=1",
    )
    assert waited.status_code in (200, 202), waited.text

    assert ways == ["loop-declined", "thread", "loop-declined", "thread", "thread"]
