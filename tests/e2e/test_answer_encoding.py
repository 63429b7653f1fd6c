"""An answer is encoded once: the bytes a client gets are those kept in Redis for its
retries, and a retry answered from Redis sends the same bytes again. A plain payment
creation keeps no answer in Redis (one round trip, FastPath.answer_async): its retry
is answered from Postgres, byte for byte the same."""

from __future__ import annotations

import json

import redis
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.helpers import admin, drain, new_key


def kept_in_redis(redis_url: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    return [value for slot in client.scan_iter("idem:*") if (value := client.get(slot))]


def test_a_payment_and_its_retry_send_the_same_bytes_and_redis_keeps_only_the_claim(
    client: TestClient, redis_url: str
) -> None:
    merchant = admin(client).merchant()
    key = new_key()
    first = merchant.pay(1234, key=key, metadata={"note": "café ✓"})
    assert first.status_code == 202, first.text
    again = merchant.pay(1234, key=key, metadata={"note": "café ✓"})
    assert again.headers["Idempotent-Replayed"] == "true"

    assert again.content == first.content
    # As Starlette would have rendered the body itself (compact, UTF-8 unescaped).
    assert first.content == JSONResponse(first.json()).body
    assert not any(first.json()["id"].encode() in value for value in kept_in_redis(redis_url))


def test_a_refund_and_its_retry_send_the_bytes_kept_for_retries(
    client: TestClient, container: Container, redis_url: str
) -> None:
    merchant = admin(client).merchant()
    payment = merchant.pay(5000).json()["id"]
    drain(container)
    body = {"payment": payment, "amount": 1234, "reason": "requested_by_customer"}
    key = new_key()
    first = merchant.post("/v1/refunds", body, Idempotency_Key=key)
    assert first.status_code in (200, 201, 202), first.text
    again = merchant.post("/v1/refunds", body, Idempotency_Key=key)
    assert again.headers["Idempotent-Replayed"] == "true"

    assert again.content == first.content
    assert first.content == JSONResponse(first.json()).body
    kept = kept_in_redis(redis_url)
    answers = [json.loads(value) for value in kept if value.startswith(b"{")]
    (stored,) = [a for a in answers if a.get("body", {}).get("id") == first.json()["id"]]
    assert stored["status"] == first.status_code
    sent = b', "body": ' + first.content + b"}"
    assert any(value.endswith(sent) for value in kept)
