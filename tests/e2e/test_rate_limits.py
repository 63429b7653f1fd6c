"""Rate limits are per merchant: its keys share one limit, which an admin may set
(issue 14, item 11)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.conftest import ADMIN_KEY
from tests.helpers import Api, admin, bearer, drain

LIMIT = 3
BURST = 12  # well within one second: one window


def _default(container: Container, per_s: int) -> None:
    container.settings = container.settings.model_copy(update={"rate_limit_per_s": per_s})


def second_key(client: TestClient, merchant: Api) -> Api:
    merchant_id = merchant.get("/v1/balance").json()["merchant"]
    minted = admin(client).post("/v1/api_keys", {"role": "merchant", "merchant": merchant_id})
    assert minted.status_code == 201, minted.text
    return Api(client, minted.json()["api_key"])


def burst(*callers: Api) -> list[int]:
    return [callers[n % len(callers)].get("/v1/payments").status_code for n in range(BURST)]


def test_a_merchants_keys_share_one_limit(client: TestClient, container: Container) -> None:
    merchant = admin(client).merchant()
    other_key = second_key(client, merchant)
    _default(container, LIMIT)
    statuses = burst(merchant, other_key)
    assert 1 <= statuses.count(200) <= LIMIT, statuses
    assert statuses.count(429) >= BURST - LIMIT
    refused = merchant.get("/v1/payments")
    assert refused.status_code == 429
    assert refused.json()["type"] == "https://paysource.dev/problems/rate_limited"
    assert refused.headers["retry-after"] == "1"


def test_an_admin_sets_a_merchants_own_limit(client: TestClient, container: Container) -> None:
    boss = admin(client)
    merchant, other = boss.merchant("Big"), boss.merchant("Small")
    merchant_id = merchant.get("/v1/balance").json()["merchant"]
    path = f"/v1/merchants/{merchant_id}/rate_limit"
    assert boss.get(path).json()["default"] is True
    put = client.put(path, json={"rate_limit_per_s": BURST * 10}, headers=_admin_headers())
    assert put.status_code == 200, put.text
    assert put.json() == {
        "object": "rate_limit",
        "merchant": merchant_id,
        "rate_limit_per_s": BURST * 10,
        "default": False,
    }
    _default(container, LIMIT)
    assert burst(merchant).count(200) == BURST  # its own, higher limit
    assert burst(other).count(200) <= LIMIT  # the default still holds for others
    _default(container, 1000)  # the admin's own window is full too
    reset = client.put(path, json={"rate_limit_per_s": None}, headers=_admin_headers())
    assert reset.json()["default"] is True
    assert reset.json()["rate_limit_per_s"] == 1000


def test_only_an_admin_sets_a_limit_and_only_a_sane_one(client: TestClient) -> None:
    merchant = admin(client).merchant()
    merchant_id = merchant.get("/v1/balance").json()["merchant"]
    path = f"/v1/merchants/{merchant_id}/rate_limit"
    mine = client.put(path, json={"rate_limit_per_s": 10**5}, headers=merchant_headers(merchant))
    assert mine.status_code == 403
    for bad in (0, -1, 10**6):
        refused = client.put(path, json={"rate_limit_per_s": bad}, headers=_admin_headers())
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/invalid_value")
    unknown = client.put(
        "/v1/merchants/mer_" + "0" * 32 + "/rate_limit",
        json={"rate_limit_per_s": 5},
        headers=_admin_headers(),
    )
    assert unknown.status_code == 404


def _admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def merchant_headers(merchant: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {merchant.key}"}


def _pay(merchant: Api, key: str) -> int:
    body = {"amount": 1000, "currency": "USD", "source": "tok_visa"}
    return merchant.post("/v1/payments", body, Idempotency_Key=key).status_code


def test_payments_count_in_the_merchants_window_and_a_refused_key_stays_free(
    client: TestClient, container: Container
) -> None:
    """POST /v1/payments counts its rate limit in the Redis round trip of its
    idempotency claim: lists and payments share the merchant's one window, and a
    payment refused with 429 leaves its key unclaimed, so its retry is taken."""
    merchant = admin(client).merchant()
    _default(container, LIMIT)
    statuses = [_pay(merchant, f"order-{n}") for n in range(BURST)]
    assert 1 <= statuses.count(202) <= LIMIT, statuses
    assert statuses.count(429) >= BURST - LIMIT
    refused = [f"order-{n}" for n, status in enumerate(statuses) if status == 429]
    assert merchant.get("/v1/payments").status_code == 429  # one window for both
    _default(container, 1000)
    assert _pay(merchant, refused[0]) == 202  # not 409 "in flight", not a replay
    drain(container)
    listed = merchant.get("/v1/payments", limit=100).json()["data"]
    assert len(listed) == statuses.count(202) + 1  # the refused made nothing


def test_a_head_counts_as_the_get_it_stands_for(client: TestClient, container: Container) -> None:
    merchant = admin(client).merchant()
    _default(container, LIMIT)
    heads = [client.head("/v1/payments", headers=bearer(merchant.key)) for _ in range(BURST)]
    statuses = [head.status_code for head in heads]
    assert 1 <= statuses.count(200) <= LIMIT, statuses
    assert statuses.count(429) >= BURST - LIMIT
    assert merchant.get("/v1/payments").status_code == 429  # one limit for both
