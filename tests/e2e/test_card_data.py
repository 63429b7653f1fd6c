"""Card data by construction (issue 12, item 4): free text holding a card number in
any spelling is refused and stored nowhere; identifiers are never scanned, and what
is stored of them cannot hold one (a keyed hash of the key, a safe request id)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.domain.card import luhn_valid
from paysource.domain.idempotency import claim_id, key_digest
from tests.helpers import Api, admin, drain

SPELLINGS = [
    "4242-42-42-4242-4242",
    "4242;4242;4242;4242",
    "4242\u00b74242\u00b74242\u00b74242",
    "4242\u20224242\u20224242\u20224242",
    "4242     4242     4242     4242",
    "\u2074\u00b2\u2074\u00b2" * 4,  # superscript digits
    "\uff14\uff12\uff14\uff12 " * 4,  # fullwidth digits
]
# Luhn-valid digits in a common key shape: refused one time in ten by the old scanner.
TIMESTAMP_KEY = "order-42-1796388699.123456"


def _stored(settings: Settings) -> tuple[bytes, bytes]:
    """Every event's bytes, and every Redis key and value, to search for plaintext."""
    assert settings.database_url is not None
    assert settings.redis_url is not None
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT topic, state FROM paysource_events").fetchall()
    events = b"".join(topic.encode() + bytes(state) for topic, state in rows)
    cache = redis.Redis.from_url(settings.redis_url)
    keys = cache.keys("*")
    values = [cache.dump(key) or b"" for key in keys]
    return events, b"".join(keys + values)


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


def _count_events(settings: Settings) -> int:
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM paysource_events").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize(
    "where",
    [
        lambda pan: {"description": f"card {pan} thanks"},
        lambda pan: {"metadata": {"note": pan}},
    ],
    ids=["description", "metadata"],
)
def test_a_card_number_in_free_text_is_refused_and_stored_nowhere(
    merchant: Api, settings: Settings, spelling: str, where: Any
) -> None:
    before = _count_events(settings)
    response = merchant.pay(1000, **where(spelling))
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/card_number_refused")
    assert _count_events(settings) == before
    events, cached = _stored(settings)
    for text in (spelling, spelling.encode("unicode_escape").decode()):
        assert text.encode() not in events + cached


def test_a_key_of_luhn_valid_digits_is_accepted_replays_and_is_stored_only_hashed(
    merchant: Api, container: Container, settings: Settings
) -> None:
    first = merchant.pay(1000, key=TIMESTAMP_KEY)
    assert luhn_valid("421796388699123456")
    assert first.status_code == 202, first.text
    again = merchant.pay(1000, key=TIMESTAMP_KEY)
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    drain(container)
    events = merchant.get(f"/v1/payments/{first.json()['id']}/events").json()["data"]
    digest = key_digest(TIMESTAMP_KEY, settings.idempotency_key_hmac_secret)
    assert events[0]["metadata"]["idempotency_key_hmac"] == digest
    assert all("idempotency_key" not in event["metadata"] for event in events)
    stored_events, cached = _stored(settings)
    assert TIMESTAMP_KEY.encode() not in stored_events + cached
    assert digest.encode() in stored_events


def test_the_claim_id_is_derived_from_the_key_as_before_so_replays_find_it() -> None:
    # Pinned in test_domain_idempotency too: hashing the stored copy changed nothing here.
    merchant_id = UUID("00000000-0000-4000-8000-0000000000a1")
    assert claim_id(merchant_id, "order-1") == UUID("ff57f506-f30b-5ad2-a462-6f96f6464ef1")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("4242-42-42-4242-4242", False),
        ("4111-1111-1111-1111", False),
        ("4242424242424242", False),
        ("x" * 65, False),
        ("has space", False),
        ("order-42", True),
        ("2026-12-04", True),
        ("3f2c9a1e-7b4d-4c2a-9e8f-a1b2c3d4e5f6", True),
    ],
)
def test_a_request_id_is_echoed_only_in_a_safe_shape(
    merchant: Api, settings: Settings, given: str, kept: bool
) -> None:
    response = merchant.client.get(
        "/v1/payments", headers={"Authorization": f"Bearer {merchant.key}", "X-Request-Id": given}
    )
    assert response.status_code == 200
    assert (response.headers["X-Request-Id"] == given) is kept
    if not kept:
        assert response.headers["X-Request-Id"].startswith("req_")
        assert given not in response.text
