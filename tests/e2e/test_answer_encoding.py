"""An answer is encoded once: the bytes a client gets are those kept in Redis for its
retries, and a retry answered from Redis sends the same bytes again."""

from __future__ import annotations

import json

import redis
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from tests.helpers import admin, new_key


def test_a_payment_and_its_retry_send_the_bytes_kept_for_retries(
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
    kept = [
        redis.Redis.from_url(redis_url).get(slot)
        for slot in redis.Redis.from_url(redis_url).scan_iter("idem:*")
    ]
    answers = [json.loads(value) for value in kept if value and value.startswith(b"{")]
    (stored,) = [a for a in answers if a.get("body", {}).get("id") == first.json()["id"]]
    assert stored["status"] == 202
    sent = b', "body": ' + first.content + b"}"
    assert any(value.endswith(sent) for value in kept if value)
