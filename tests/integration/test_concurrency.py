"""Races over real HTTP against a real Postgres: retries, refunds and captures collide.

Every assertion here is about money: one payment per key, never more refunded than
captured, never both captured and canceled.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from paysource.bootstrap import Container
from tests.helpers import Api, admin, drain, live_server, new_key


@pytest.fixture
def base_url(container: Container) -> Iterator[str]:
    with live_server(container) as url:
        yield url


def race(
    workers: int, call: Callable[[httpx.Client, int], httpx.Response], base_url: str
) -> list[httpx.Response]:
    """Run `call` from `workers` threads released at the same instant."""
    barrier = threading.Barrier(workers)

    def one(index: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            barrier.wait()
            return call(client, index)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(workers)))


def merchant_api(base_url: str) -> Api:
    return admin(httpx.Client(base_url=base_url, timeout=30)).merchant()


def test_32_identical_requests_with_one_key_create_exactly_one_payment(
    base_url: str, container: Container
) -> None:
    merchant = merchant_api(base_url)
    key = new_key()
    body = {"amount": 4200, "currency": "USD", "source": "tok_visa"}

    def create(client: httpx.Client, _: int) -> httpx.Response:
        return client.post(
            "/v1/payments",
            json=body,
            headers={"Authorization": f"Bearer {merchant.key}", "Idempotency-Key": key},
        )

    responses = race(32, create, base_url)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {202, 409}, statuses
    accepted = [r for r in responses if r.status_code == 202]
    assert accepted, "at least the first request is answered"
    assert len({r.json()["id"] for r in accepted}) == 1
    assert all(r.json() == accepted[0].json() for r in accepted)
    assert (
        sum(r.headers.get("Idempotent-Replayed") == "true" for r in accepted) == len(accepted) - 1
    )
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["type"].endswith("/idempotency_request_in_flight")
        assert conflict.headers["Retry-After"]
    drain(container)
    assert len(merchant.get("/v1/payments", limit=100).json()["data"]) == 1


def test_one_key_with_different_bodies_creates_one_payment_and_refuses_the_rest(
    base_url: str, container: Container
) -> None:
    merchant = merchant_api(base_url)
    key = new_key()

    def create(client: httpx.Client, index: int) -> httpx.Response:
        return client.post(
            "/v1/payments",
            json={"amount": 1000 + index, "currency": "USD", "source": "tok_visa"},
            headers={"Authorization": f"Bearer {merchant.key}", "Idempotency-Key": key},
        )

    responses = race(16, create, base_url)

    statuses = Counter(r.status_code for r in responses)
    assert statuses[202] == 1, statuses
    assert set(statuses) <= {202, 409, 422}
    drain(container)
    assert len(merchant.get("/v1/payments").json()["data"]) == 1


def captured_payment(merchant: Api, container: Container, amount: int, **fields: Any) -> str:
    created = merchant.pay(amount, **fields)
    assert created.status_code == 202, created.text
    drain(container)
    return str(created.json()["id"])


@pytest.mark.parametrize("amounts", [[1000] * 16, [700, 1300, 2500, 400] * 4])
def test_concurrent_partial_refunds_never_exceed_the_capture(
    base_url: str, container: Container, amounts: list[int]
) -> None:
    merchant = merchant_api(base_url)
    payment_id = captured_payment(merchant, container, 10_000)

    def refund(client: httpx.Client, index: int) -> httpx.Response:
        return client.post(
            "/v1/refunds",
            json={"payment": payment_id, "amount": amounts[index]},
            headers={"Authorization": f"Bearer {merchant.key}", "Idempotency-Key": new_key()},
        )

    responses = race(len(amounts), refund, base_url)

    assert {r.status_code for r in responses} <= {202, 409, 422}
    accepted = [amounts[i] for i, r in enumerate(responses) if r.status_code == 202]
    assert sum(accepted) <= 10_000
    refused = [r for r in responses if r.status_code == 422]
    assert all(r.json()["type"].endswith("/refund_exceeds_captured") for r in refused)
    drain(container)
    payment = merchant.get(f"/v1/payments/{payment_id}").json()
    assert payment["amount_refunded"] == sum(accepted)
    assert payment["amount_refund_pending"] == 0
    assert payment["amount_refunded"] <= payment["amount_captured"]


def test_capture_racing_cancel_lets_exactly_one_win(base_url: str, container: Container) -> None:
    merchant = merchant_api(base_url)
    for _ in range(8):
        payment_id = captured_payment(merchant, container, 5000, capture_method="manual")
        headers = {"Authorization": f"Bearer {merchant.key}"}

        def act(
            client: httpx.Client, index: int, pid: str = payment_id, auth: dict[str, str] = headers
        ) -> httpx.Response:
            action = "capture" if index % 2 == 0 else "cancel"
            return client.post(f"/v1/payments/{pid}/{action}", json={}, headers=auth)

        capture, cancel = race(2, act, base_url)

        assert sorted([capture.status_code, cancel.status_code]) == [200, 409]
        final = merchant.get(f"/v1/payments/{payment_id}").json()
        if capture.status_code == 200:
            assert (final["status"], final["amount_captured"]) == ("succeeded", 5000)
            assert cancel.json()["type"].endswith("/payment_not_cancelable")
        else:
            assert (final["status"], final["amount_captured"]) == ("canceled", 0)
            assert capture.json()["type"].endswith("/payment_not_capturable")


def test_24_concurrent_endpoint_registrations_leave_at_most_16(base_url: str) -> None:
    merchant = merchant_api(base_url)

    def register(client: httpx.Client, index: int) -> httpx.Response:
        body = {"url": f"http://127.0.0.1:9/hooks/{index}", "events": ["*"]}
        return client.post(
            "/v1/webhook_endpoints",
            json=body,
            headers={"Authorization": f"Bearer {merchant.key}", "Idempotency-Key": new_key()},
        )

    # No outbox follower runs: its table stays empty, and the cap must hold regardless.
    responses = race(24, register, base_url)
    created = [r for r in responses if r.status_code == 201]
    refusals = Counter(r.json()["type"].rsplit("/", 1)[-1] for r in responses if r not in created)
    assert len(created) <= 16, len(created)
    assert set(refusals) <= {"webhook_endpoint_limit", "concurrent_modification"}, refusals

    with httpx.Client(base_url=base_url, timeout=30) as client:
        for index in range(16 - len(created)):  # places lost to a race are still free
            assert register(client, 100 + index).status_code == 201
        refused = register(client, 200)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/webhook_endpoint_limit")
