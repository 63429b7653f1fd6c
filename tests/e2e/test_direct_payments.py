"""`POST /v1/payments` on the direct path (rest/direct.py) answers exactly as FastAPI does.

Two apps over one container: the API as served, and the same API with every request left
to FastAPI's routing. Each generated request goes to both (with keys of its own where
the key is valid, so neither replays the other) and the answers must match: status,
headers, problem bodies to the letter, created payments but for their ids and times.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paysource.bootstrap import Container
from paysource.entrypoints.http.app import create_app
from tests.conftest import ADMIN_KEY
from tests.helpers import admin, new_key

ABSENT = object()
VARYING = {"id", "request_id", "created", "updated"}
# What differs between any two answers: when, and which request.
VARYING_HEADERS = {"date", "x-request-id", "content-length"}


@pytest.fixture
def apps(container: Container) -> Iterator[tuple[TestClient, TestClient]]:
    with (
        TestClient(create_app(container)) as direct,
        TestClient(create_app(container, direct=False)) as routed,
    ):
        yield direct, routed


@pytest.fixture
def keys(apps: tuple[TestClient, TestClient]) -> dict[str, str]:
    direct, _ = apps
    one = admin(direct).merchant("One")
    other = admin(direct).merchant("Other")
    customer = one.post("/v1/customers", {"name": "C"}).json()["id"]
    foreign = other.post("/v1/customers", {"name": "D"}).json()["id"]
    return {"merchant": one.key, "customer": customer, "foreign_customer": foreign}


def test_a_plain_payment_goes_direct_and_anything_else_through_fastapi(
    apps: tuple[TestClient, TestClient], keys: dict[str, str]
) -> None:
    direct, routed = apps
    body = {"amount": 1000, "currency": "USD", "source": "tok_visa"}
    auth = {"Authorization": f"Bearer {keys['merchant']}"}

    def taken(**extra: Any) -> int:
        before = direct.app.state.direct_payments  # type: ignore[attr-defined]
        headers = {**auth, "Idempotency-Key": new_key(), **extra.pop("headers", {})}
        answer = direct.post("/v1/payments", json=extra.pop("json", body), headers=headers, **extra)
        assert answer.status_code < 500, answer.text
        return direct.app.state.direct_payments - before  # type: ignore[attr-defined,no-any-return]

    assert taken() == 1
    assert taken(json={**body, "capture_method": "manual", "metadata": {"a": "b"}}) == 1
    assert taken(headers={"Prefer": "wait=1"}) == 0  # waits: not CPU-bound
    assert taken(params={"x": "1"}) == 0  # FastAPI refuses the unknown parameter
    assert taken(json={**body, "amount": -1}) == 0
    assert taken(headers={"Authorization": "Bearer psk_live_nope"}) == 1  # its 401 too
    routed.post("/v1/payments", json=body, headers={**auth, "Idempotency-Key": new_key()})
    assert not hasattr(routed.app.state, "direct_payments")


def _field(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(ABSENT), strategy)


BODY_FIELDS = {
    "amount": st.one_of(
        st.integers(-5, 10**16), st.sampled_from(["100", 1.5, 10.0, True, None, [1]])
    ),
    "currency": st.sampled_from(["USD", "EUR", "JPY", "usd", "XXX", "US", "", 1, None]),
    "source": st.sampled_from(
        ["tok_visa", "tok_mastercard", "tok_", "tok_unknown", "4111111111111111", "", 7]
    ),
    "customer": st.sampled_from(["customer", "foreign_customer", "cus_nope", None, 3]),
    "capture_method": st.sampled_from(["automatic", "manual", "later", None]),
    "description": st.one_of(st.text(max_size=4), st.just("d" * 1001), st.none()),
    "metadata": st.one_of(
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
        st.sampled_from([{"a": 1}, ["a"], None, {f"k{n}": "v" for n in range(51)}]),
    ),
    "surplus": st.sampled_from([1, "x"]),
}
VALID = {"amount": 1000, "currency": "USD", "source": "tok_visa"}
# Mostly a valid payment with a field or two changed, taken away or added: most
# examples then reach the command (the direct path), some of them its refusals.
CHANGES = st.dictionaries(
    st.sampled_from(sorted(BODY_FIELDS)),
    st.one_of(st.just(ABSENT), *BODY_FIELDS.values()),
    max_size=2,
)
GOOD = st.fixed_dictionaries(
    {"amount": st.integers(1, 10**6), "currency": st.sampled_from(["USD", "EUR", "JPY"])},
    optional={
        "source": st.sampled_from(["tok_visa", "tok_mastercard"]),
        "customer": st.just("customer"),
        "capture_method": st.sampled_from(["automatic", "manual"]),
        "description": st.text(max_size=8),
        "metadata": st.dictionaries(st.text(min_size=1, max_size=3), st.text(max_size=3)),
    },
).map(lambda fields: {"source": "tok_visa", **fields})
BODIES = st.one_of(
    GOOD,
    CHANGES.map(lambda changes: {**VALID, **changes}),
    st.sampled_from([[], None, "payment", 5]),
)
RAW = st.sampled_from([b"", b"{", b"not json", b'{"amount": 1}x'])


def test_direct_and_routed_answer_every_request_alike(
    apps: tuple[TestClient, TestClient], keys: dict[str, str]
) -> None:
    direct_app: Any = apps[0].app
    before = direct_app.state.direct_payments

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        body=st.one_of(BODIES, RAW),
        auth=st.sampled_from(
            ["merchant"] * 10 + ["admin", "unknown", "stranger", "wrong", "none", "basic", "two"]
        ),
        key=st.sampled_from(["fresh"] * 8 + ["again"] * 3 + ["none", "empty", "long", "two"]),
        tp=st.sampled_from([None, f"00-{'1' * 32}-{'2' * 16}-01", "junk"]),
        media=st.sampled_from(["application/json"] * 4 + ["Application/JSON; charset=utf-8", ""]),
    )
    def alike(body: Any, auth: str, key: str, tp: str | None, media: str) -> None:
        content = body if isinstance(body, bytes) else json.dumps(_resolved(body, keys)).encode()
        answers = []
        for client in apps:  # headers for each: a key of its own, so neither replays the other
            headers = _headers(media, auth, key, tp, keys)
            if key == "again":  # the key used before: a replay, or 422 for another body
                first = [(k, v) for k, v in headers if k.lower() != "authorization"]
                first.append(("Authorization", f"Bearer {keys['merchant']}"))
                assert client.post("/v1/payments", json=VALID, headers=first).status_code == 202
            answers.append(client.post("/v1/payments", content=content, headers=headers))
        direct, routed = (_comparable(answer) for answer in answers)
        assert direct == routed

    alike()
    # Not only refusals before the command: enough examples went the direct way.
    assert direct_app.state.direct_payments - before >= 10


def _resolved(body: Any, keys: dict[str, str]) -> Any:
    if not isinstance(body, dict):
        return body
    resolved = {name: value for name, value in body.items() if value is not ABSENT}
    customer = resolved.get("customer")
    if isinstance(customer, str) and customer in keys:
        resolved["customer"] = keys[customer]
    if customer == "cus_nope":
        resolved["customer"] = f"cus_{uuid.uuid4().hex}"
    return resolved


def _headers(media: str, auth: str, key: str, traceparent: str | None, keys: dict[str, str]) -> Any:
    headers: list[tuple[str, str]] = [("Content-Type", media)] if media else []
    merchant = keys["merchant"]
    bearer = {
        "merchant": merchant,
        "admin": ADMIN_KEY,
        "unknown": "psk_live_x" * 3,
        # Well-formed: looked up in the store (no such key; the right id, a wrong secret).
        "stranger": f"psk_{uuid.uuid4().hex}_{'a' * 64}",
        "wrong": merchant[:-1] + ("0" if merchant[-1] != "0" else "1"),
    }
    if auth in bearer:
        headers.append(("Authorization", f"Bearer {bearer[auth]}"))
    elif auth == "basic":
        headers.append(("Authorization", "Basic dXNlcjpwYXNz"))
    elif auth == "two":
        headers += [("Authorization", f"Bearer {keys['merchant']}")] * 2
    fresh = new_key()  # in every spelling: the two apps must not meet each other's keys
    values = {"fresh": fresh, "again": fresh, "empty": "", "long": fresh.ljust(256, "k")}
    if key in values:
        headers.append(("Idempotency-Key", values[key]))
    elif key == "two":
        headers += [("Idempotency-Key", new_key()), ("Idempotency-Key", new_key())]
    if traceparent is not None:
        headers.append(("traceparent", traceparent))
    return headers


def _comparable(answer: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in answer.headers.items() if k not in VARYING_HEADERS}
    try:
        body = _masked(answer.json())
    except ValueError:
        body = answer.text
    return answer.status_code, headers, body


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "…" if k in VARYING else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value
