"""`POST /v1/payments` without `Prefer: wait` is made on the event loop: the plain case
(a known card, no customer) by `create_payment_awaiting`, which holds no thread; every
other case, and every retry Redis cannot answer, by the threaded `create_payment`. Each
way answers as the other would."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from devtools.localservices import LocalRedis
from paysource.application.ids import Kind, decode
from paysource.application.payments import NewPayment, PaymentService
from paysource.bootstrap import Container
from paysource.config import Settings
from tests.helpers import Api, admin, drain, new_key


@pytest.fixture
def ways(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which way each creation went: on the loop (`loop`: made there; `loop-replayed`:
    its key's payment replayed; `loop-refused`: an error such as 422; `loop-declined`:
    handed to the threaded command) or `thread`."""
    taken: list[str] = []
    awaiting, threaded = PaymentService.create_payment_awaiting, PaymentService.create_payment

    async def on_loop(self: PaymentService, new: NewPayment) -> Any:
        try:
            outcome = await awaiting(self, new)
        except Exception:
            taken.append("loop-refused")
            raise
        if outcome is None:
            taken.append("loop-declined")
        else:
            taken.append("loop-replayed" if outcome.replayed else "loop")
        return outcome

    def in_thread(self: PaymentService, new: NewPayment) -> Any:
        taken.append("thread")
        return threaded(self, new)

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

    replayed = merchant.pay(1000, key=key)  # the claim, then Postgres's record: no command
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


def test_a_retry_while_the_first_is_on_the_loop_is_told_it_is_in_flight(
    client: TestClient, ways: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant = admin(client).merchant("In flight")
    entered, release = threading.Event(), threading.Event()
    counted = PaymentService.create_payment_awaiting  # the `ways` fixture's

    async def held(self: PaymentService, new: NewPayment) -> Any:
        entered.set()
        await asyncio.to_thread(release.wait, 10)
        return await counted(self, new)

    monkeypatch.setattr(PaymentService, "create_payment_awaiting", held)
    key = new_key()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(merchant.pay, 1000, key=key)
        assert entered.wait(10)
        concurrent = merchant.pay(1000, key=key)
        release.set()
        answered = first.result(timeout=20)

    assert concurrent.status_code == 409, concurrent.text
    assert concurrent.json()["type"].endswith("/idempotency_request_in_flight")
    assert "Retry-After" in concurrent.headers
    assert answered.status_code == 202, answered.text
    after = merchant.pay(1000, key=key)
    assert (after.status_code, after.json()) == (202, answered.json())
    assert ways == ["loop"]


def test_with_redis_away_a_payment_is_made_once_and_its_retries_answer_from_the_log(
    client: TestClient, container: Container, redis_server: LocalRedis, ways: list[str]
) -> None:
    merchant = admin(client).merchant("No Redis")
    key = new_key()
    redis_server.stop()
    try:
        first = merchant.pay(1000, key=key)
        again = merchant.pay(1000, key=key)
        other = merchant.pay(2000, key=key)
    finally:
        redis_server.restart()

    assert first.status_code == 202, first.text
    assert (again.status_code, again.json()) == (202, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("/idempotency_key_reused")
    assert ways == ["loop", "loop-replayed", "loop-refused"]
    drain(container)
    listed = merchant.get("/v1/payments").json()["data"]
    assert [payment["id"] for payment in listed] == [first.json()["id"]]


def test_a_payment_past_its_database_budget_is_503_and_its_retry_finds_the_one_payment(
    client: TestClient, container: Container, settings: Settings, ways: list[str]
) -> None:
    merchant = admin(client).merchant("Budget")
    key = new_key()
    with psycopg.connect(settings.database_url or "") as holder:
        # A long write elsewhere: the group commit waits for the table past the budget.
        holder.execute("LOCK TABLE paysource_events IN EXCLUSIVE MODE")
        late = merchant.pay(1000, key=key)
    # The lock is gone: the save the late request gave up on is free to commit.

    assert late.status_code == 503, late.text
    assert late.json()["type"].endswith("/service_unavailable")
    retried = merchant.pay(1000, key=key)
    assert retried.status_code == 202, retried.text
    again = merchant.pay(1000, key=key)
    assert (again.status_code, again.json()) == (202, retried.json())
    drain(container)
    listed = merchant.get("/v1/payments").json()["data"]
    assert [payment["id"] for payment in listed] == [retried.json()["id"]]
    assert ways[0] == "loop-refused"
