"""Redis going away mid-run changes speed, never outcomes: no 5xx, no double charge."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from devtools.localservices import LocalRedis
from paysource.bootstrap import Container
from tests.helpers import admin, drain, live_server, new_key


@pytest.fixture
def base_url(container: Container) -> Iterator[str]:
    with live_server(container) as url:
        yield url


def test_payments_retries_and_refunds_stay_correct_while_redis_is_down(
    base_url: str, container: Container, redis_server: LocalRedis
) -> None:
    client = httpx.Client(base_url=base_url, timeout=30)
    merchant = admin(client).merchant()
    keys = [new_key() for _ in range(60)]
    statuses: Counter[int] = Counter()
    first_ids: dict[str, str] = {}

    def send(key: str) -> None:
        response = merchant.pay(1500, key=key)
        statuses[response.status_code] += 1
        if response.status_code == 202:
            assert first_ids.setdefault(key, response.json()["id"]) == response.json()["id"]

    for number, key in enumerate(keys):
        if number == 20:
            redis_server.kill()  # mid-run, without warning
        if number == 40:
            redis_server.restart()
        send(key)
        send(key)  # every request is retried once: replayed from Redis or from Postgres

    assert set(statuses) == {202}, statuses
    drain(container)
    payments = merchant.get("/v1/payments", limit=100).json()["data"]
    assert len(payments) == len(keys)
    assert {p["id"] for p in payments} == set(first_ids.values())


def test_concurrent_retries_without_redis_still_create_one_payment(
    base_url: str, container: Container, redis_server: LocalRedis
) -> None:
    merchant = admin(httpx.Client(base_url=base_url, timeout=30)).merchant()
    redis_server.kill()
    key = new_key()
    barrier = threading.Barrier(12)
    responses: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            barrier.wait()
            responses.append(
                client.post(
                    "/v1/payments",
                    json={"amount": 900, "currency": "USD", "source": "tok_visa"},
                    headers={"Authorization": f"Bearer {merchant.key}", "Idempotency-Key": key},
                )
            )

    threads = [threading.Thread(target=send) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    readiness = httpx.get(f"{base_url}/readyz")
    assert readiness.status_code == 200
    assert readiness.json()["checks"]["redis"]["status"] == "degraded"
    drain(container)
    assert len(merchant.get("/v1/payments").json()["data"]) == 1
