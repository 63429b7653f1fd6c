"""Commands through HTTP: idempotent retries (via Redis and via Postgres alone), partial
capture, `Prefer: wait`, and what each test card makes of a payment or refund."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from devtools.localservices import LocalPostgres, LocalRedis
from paysource.bootstrap import Container
from paysource.entrypoints.http.app import create_app
from paysource.entrypoints.worker import Worker
from tests.conftest import module_container
from tests.helpers import Api, admin, bearer, drain, live_server, new_key

REUSED = "https://paysource.dev/problems/idempotency_key_reused"


@pytest.fixture(scope="module")
def container(
    postgres: LocalPostgres, template_url: str, redis_server: LocalRedis
) -> Iterator[Container]:
    """One wired app for the module; every test works with its own merchant, so tests
    stay independent while sparing the per-test database set-up."""
    with module_container(
        postgres,
        redis_server,
        "test_api_commands",
        db_max_overflow=20,
        follower_poll_interval_s=0.05,
    ) as built:
        yield built


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


@pytest.fixture(params=["redis", "postgres"])
def before_retry(request: pytest.FixtureRequest, container: Container) -> Callable[[], None]:
    """What happens between a request and its retry: nothing (Redis answers the retry),
    or Redis loses everything (Postgres alone must answer it the same way)."""
    if request.param == "redis":
        return lambda: None

    def forget_everything() -> None:
        with redis.Redis.from_url(str(container.settings.redis_url)) as cache:
            cache.flushall()

    return forget_everything


def head(container: Container) -> int:
    return container.router.directory.store.head()


def payment(merchant: Api, payment_id: str) -> dict[str, Any]:
    response = merchant.get(f"/v1/payments/{payment_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def succeeded_payment(
    merchant: Api, container: Container, amount: int = 1000, **fields: Any
) -> str:
    response = merchant.pay(amount, **fields)
    assert response.status_code == 202, response.text
    drain(container)
    assert payment(merchant, response.json()["id"])["status"] == "succeeded"
    return str(response.json()["id"])


def held_payment(merchant: Api, container: Container, amount: int = 1000) -> str:
    response = merchant.pay(amount, capture_method="manual")
    assert response.status_code == 202, response.text
    drain(container)
    assert payment(merchant, response.json()["id"])["status"] == "requires_capture"
    return str(response.json()["id"])


def refund(
    merchant: Api, payment_id: str, amount: int | None = None, key: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"payment": payment_id}
    if amount is not None:
        body["amount"] = amount
    return merchant.post("/v1/refunds", body, Idempotency_Key=key or new_key())


def assert_reused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == REUSED


# Retried payments ------------------------------------------------------------------------


def test_a_retried_payment_replays_the_first_answer_and_charges_once(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    key = new_key()
    first = merchant.pay(1000, key=key, description="order 7")
    assert first.status_code == 202, first.text
    assert "Idempotent-Replayed" not in first.headers
    written = head(container)
    before_retry()
    retry = merchant.pay(1000, key=key, description="order 7")
    assert (retry.status_code, retry.json()) == (first.status_code, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert head(container) == written
    drain(container)
    listed = merchant.get("/v1/payments").json()["data"]
    assert [p["id"] for p in listed] == [first.json()["id"]]
    assert listed[0]["status"] == "succeeded"


def test_a_retry_after_the_payment_moved_on_still_replays_the_first_answer(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    key = new_key()
    first = merchant.pay(1000, key=key)
    drain(container)
    before_retry()
    retry = merchant.pay(1000, key=key)
    assert (retry.status_code, retry.json()) == (202, first.json())
    assert retry.json()["status"] == "processing"


def test_a_retry_with_reordered_json_is_the_same_request(client: TestClient, merchant: Api) -> None:
    key = new_key()
    headers = {**bearer(merchant.key), "Content-Type": "application/json", "Idempotency-Key": key}
    first = client.post(
        "/v1/payments",
        content='{"amount":1000,"currency":"USD","source":"tok_visa","metadata":{"a":"1","b":"2"}}',
        headers=headers,
    )
    retry = client.post(
        "/v1/payments",
        content='{ "metadata": {"b": "2", "a": "1"},\n "source": "tok_visa", '
        '"currency": "USD", "amount": 1000 }',
        headers=headers,
    )
    assert first.status_code == 202, first.text
    assert (retry.status_code, retry.json()) == (202, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "changed",
    [{"amount": 1001}, {"currency": "EUR"}, {"description": "other"}, {"capture_method": "manual"}],
    ids=["amount", "currency", "description", "capture_method"],
)
def test_a_key_reused_with_another_body_is_refused(
    merchant: Api,
    container: Container,
    before_retry: Callable[[], None],
    changed: dict[str, Any],
) -> None:
    key = new_key()
    first = merchant.pay(1000, key=key)
    assert first.status_code == 202, first.text
    written = head(container)
    before_retry()
    body = {"amount": 1000, **changed}
    assert_reused(merchant.pay(key=key, **body))
    assert head(container) == written
    assert payment(merchant, first.json()["id"])["amount"] == 1000


def test_a_payment_key_reused_for_a_refund_is_refused(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    key = new_key()
    response = merchant.pay(1000, key=key)
    drain(container)
    paid = payment(merchant, response.json()["id"])
    written = head(container)
    before_retry()
    assert_reused(refund(merchant, paid["id"], key=key))
    assert head(container) == written
    assert payment(merchant, paid["id"]) == paid


def test_a_refund_key_reused_for_a_payment_is_refused(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    payment_id = succeeded_payment(merchant, container)
    key = new_key()
    assert refund(merchant, payment_id, 100, key=key).status_code == 202
    written = head(container)
    before_retry()
    assert_reused(merchant.pay(1000, key=key))
    assert head(container) == written


def test_concurrent_retries_of_one_payment_create_it_once(
    merchant: Api, container: Container
) -> None:
    key = new_key()
    body = {"amount": 1000, "currency": "USD", "source": "tok_visa"}
    headers = {**bearer(merchant.key), "Idempotency-Key": key}
    answers: list[httpx.Response] = []
    start = threading.Barrier(8)

    with live_server(container) as url:

        def send() -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                start.wait()
                answers.append(http.post("/v1/payments", json=body, headers=headers))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    accepted = [a for a in answers if a.status_code == 202]
    in_flight = [a for a in answers if a.status_code == 409]
    assert accepted, [a.text for a in answers]
    assert len(accepted) + len(in_flight) == 8, [a.text for a in answers]
    assert {a.json()["id"] for a in accepted} == {accepted[0].json()["id"]}
    assert all(
        a.json()["type"].endswith("/idempotency_request_in_flight") and a.headers["Retry-After"]
        for a in in_flight
    )
    drain(container)
    assert len(merchant.get("/v1/payments").json()["data"]) == 1


# Capture and cancel ---------------------------------------------------------------------


def test_a_partial_capture_settles_that_amount_and_releases_the_rest(
    merchant: Api, container: Container
) -> None:
    payment_id = held_payment(merchant, container)
    captured = merchant.post(f"/v1/payments/{payment_id}/capture", {"amount": 600})
    assert captured.status_code == 200, captured.text
    body = captured.json()
    assert (body["status"], body["amount"]) == ("succeeded", 1000)
    assert (body["amount_captured"], body["amount_capturable"]) == (600, 0)
    assert body["fee"] == round(Fraction(600 * 290, 10000)) + 30
    events = merchant.get(f"/v1/payments/{payment_id}/events").json()["data"]
    assert events[-1]["type"] == "Payment.Captured"
    assert events[-1]["data"]["released_minor"] == 400
    full_refund = refund(merchant, payment_id)
    assert full_refund.status_code == 202, full_refund.text
    assert full_refund.json()["amount"] == 600


def test_a_capture_without_an_amount_takes_the_whole_hold(
    merchant: Api, container: Container
) -> None:
    payment_id = held_payment(merchant, container, 1234)
    body = merchant.post(f"/v1/payments/{payment_id}/capture").json()
    assert (body["status"], body["amount_captured"], body["amount_capturable"]) == (
        "succeeded",
        1234,
        0,
    )


def test_a_cancel_releases_the_hold(merchant: Api, container: Container) -> None:
    payment_id = held_payment(merchant, container)
    body = merchant.post(f"/v1/payments/{payment_id}/cancel").json()
    assert (body["status"], body["cancellation_reason"]) == ("canceled", "requested")
    assert (body["amount_capturable"], body["amount_captured"]) == (0, 0)


@pytest.mark.parametrize("action", ["capture", "cancel"])
def test_a_keyed_capture_or_cancel_retried_after_success_replays_its_answer(
    merchant: Api, container: Container, before_retry: Callable[[], None], action: str
) -> None:
    payment_id = held_payment(merchant, container)
    key = new_key()
    first = merchant.post(f"/v1/payments/{payment_id}/{action}", Idempotency_Key=key)
    assert first.status_code == 200, first.text
    written = head(container)
    before_retry()
    retry = merchant.post(f"/v1/payments/{payment_id}/{action}", Idempotency_Key=key)
    assert (retry.status_code, retry.json()) == (200, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert head(container) == written


def test_a_capture_replay_answers_as_the_capture_left_the_payment(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    payment_id = held_payment(merchant, container)
    key = new_key()
    first = merchant.post(
        f"/v1/payments/{payment_id}/capture", {"amount": 800}, Idempotency_Key=key
    )
    assert refund(merchant, payment_id, 100).status_code == 202
    drain(container)
    assert payment(merchant, payment_id)["amount_refunded"] == 100
    before_retry()
    retry = merchant.post(
        f"/v1/payments/{payment_id}/capture", {"amount": 800}, Idempotency_Key=key
    )
    assert (retry.status_code, retry.json()) == (200, first.json())
    assert retry.json()["amount_refunded"] == 0


def test_a_capture_key_reused_with_another_amount_is_refused(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    payment_id = held_payment(merchant, container)
    key = new_key()
    path = f"/v1/payments/{payment_id}/capture"
    assert merchant.post(path, {"amount": 500}, Idempotency_Key=key).status_code == 200
    written = head(container)
    before_retry()
    assert_reused(merchant.post(path, {"amount": 400}, Idempotency_Key=key))
    assert head(container) == written


def test_a_capture_key_reused_on_another_payment_is_refused(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    first, second = held_payment(merchant, container), held_payment(merchant, container)
    key = new_key()
    assert merchant.post(f"/v1/payments/{first}/capture", Idempotency_Key=key).status_code == 200
    before_retry()
    assert_reused(merchant.post(f"/v1/payments/{second}/capture", Idempotency_Key=key))
    assert payment(merchant, second)["status"] == "requires_capture"


# Refunds ---------------------------------------------------------------------------------


def test_a_retried_refund_reserves_its_amount_once(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    payment_id = succeeded_payment(merchant, container)
    key = new_key()
    first = refund(merchant, payment_id, 400, key=key)
    assert (first.status_code, first.json()["status"]) == (202, "pending"), first.text
    before_retry()
    retry = refund(merchant, payment_id, 400, key=key)
    assert (retry.status_code, retry.json()) == (202, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert payment(merchant, payment_id)["amount_refund_pending"] == 400
    drain(container)
    refunded = payment(merchant, payment_id)
    assert (refunded["amount_refunded"], refunded["amount_refund_pending"]) == (400, 0)


def test_a_refund_without_an_amount_refunds_what_remains(
    merchant: Api, container: Container
) -> None:
    payment_id = succeeded_payment(merchant, container)
    assert refund(merchant, payment_id, 300).status_code == 202
    rest = refund(merchant, payment_id)
    assert (rest.status_code, rest.json()["amount"]) == (202, 700), rest.text
    drain(container)
    assert payment(merchant, payment_id)["amount_refunded"] == 1000


def test_a_failed_refund_releases_its_reservation(merchant: Api, container: Container) -> None:
    payment_id = succeeded_payment(merchant, container, source="tok_refund_fail")
    opened = refund(merchant, payment_id, 400)
    assert opened.status_code == 202, opened.text
    assert payment(merchant, payment_id)["amount_refund_pending"] == 400
    drain(container)
    failed = merchant.get(f"/v1/refunds/{opened.json()['id']}").json()
    assert (failed["status"], failed["failure_code"]) == ("failed", "refund_declined")
    after = payment(merchant, payment_id)
    assert (after["amount_refund_pending"], after["amount_refunded"]) == (0, 0)
    assert refund(merchant, payment_id, 1000).status_code == 202


# Test cards --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "status", "decline_code", "cancellation_reason"),
    [
        ("tok_visa", "succeeded", None, None),
        ("tok_mastercard", "succeeded", None, None),
        ("tok_decline", "failed", "card_declined", None),
        ("tok_insufficient_funds", "failed", "insufficient_funds", None),
        ("tok_timeout", "failed", "acquirer_timeout", None),
        ("tok_risk", "canceled", None, "risk"),
    ],
)
def test_each_test_card_takes_a_payment_to_its_outcome(
    merchant: Api,
    container: Container,
    source: str,
    status: str,
    decline_code: str | None,
    cancellation_reason: str | None,
) -> None:
    created = merchant.pay(1000, source=source)
    assert created.status_code == 202, created.text
    drain(container)
    body = payment(merchant, created.json()["id"])
    assert (body["status"], body["decline_code"], body["cancellation_reason"]) == (
        status,
        decline_code,
        cancellation_reason,
    )
    assert body["amount_capturable"] == 0
    assert body["amount_captured"] == (1000 if status == "succeeded" else 0)


# Prefer: wait ------------------------------------------------------------------------------


def test_prefer_wait_without_a_worker_answers_202_processing_after_waiting(
    merchant: Api,
) -> None:
    started = time.monotonic()
    response = merchant.post(
        "/v1/payments",
        {"amount": 1000, "currency": "USD", "source": "tok_visa"},
        Idempotency_Key=new_key(),
        Prefer="wait=1",
    )
    assert time.monotonic() - started >= 1
    assert (response.status_code, response.json()["status"]) == (202, "processing")
    assert response.headers["Preference-Applied"] == "wait=1"


def test_prefer_wait_with_a_worker_answers_200_with_the_final_status(
    merchant: Api, container: Container
) -> None:
    worker = Worker(container)
    worker.start()
    try:
        answers = [
            merchant.post(
                "/v1/payments",
                {"amount": 1000, "currency": "USD", "source": source},
                Idempotency_Key=new_key(),
                Prefer=prefer,
            )
            for source, prefer in [
                ("tok_visa", "wait=5"),
                ("tok_decline", "respond-async, wait=60"),
            ]
        ]
        held = merchant.post(
            "/v1/payments",
            {"amount": 1000, "currency": "USD", "source": "tok_visa", "capture_method": "manual"},
            Idempotency_Key=new_key(),
            Prefer="Wait=8",  # preference names are case-insensitive
        )
    finally:
        worker.stop()
    # A manual capture's outcome is the hold: answered as soon as it is there.
    assert (held.status_code, held.json()["status"]) == (200, "requires_capture")
    assert held.headers["Preference-Applied"] == "wait=8"
    assert held.elapsed.total_seconds() < 5
    succeeded, declined = answers
    assert (succeeded.status_code, succeeded.json()["status"]) == (200, "succeeded")
    assert succeeded.json()["amount_captured"] == 1000
    assert succeeded.headers["Preference-Applied"] == "wait=5"
    assert (declined.status_code, declined.json()["status"]) == (200, "failed")
    assert declined.headers["Preference-Applied"] == "wait=10"


# Other keyed creations ---------------------------------------------------------------------


def test_a_retried_customer_creation_replays_the_first_customer(
    merchant: Api, before_retry: Callable[[], None]
) -> None:
    key = new_key()
    first = merchant.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=key)
    assert first.status_code == 201, first.text
    before_retry()
    retry = merchant.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=key)
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert_reused(merchant.post("/v1/customers", {"name": "Bea"}, Idempotency_Key=key))
