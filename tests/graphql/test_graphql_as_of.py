"""`payment(asOf:)` rebuilds each past state of a payment from its events."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.graphql.helpers import Gql
from tests.helpers import admin, drain, new_key

AS_OF = (
    "query($id: ID!, $at: DateTime) { payment(id: $id, asOf: $at) {"
    " __typename ... on Payment { status asOf amountCaptured { amountMinor }"
    " amountRefunded { amountMinor } refunds { status } events { type } } } }"
)


def _time_of(events: list[dict[str, str]], kind: str) -> datetime:
    return datetime.fromisoformat(next(e["time"] for e in events if e["type"] == kind))


def test_as_of_shows_processing_held_captured_and_partly_refunded(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    gql = Gql(client, api.key)
    payment = api.pay(4000, capture_method="manual").json()["id"]
    drain(container)
    assert api.post(f"/v1/payments/{payment}/capture").status_code == 200
    refund = api.post(
        "/v1/refunds", {"payment": payment, "amount": 1500}, Idempotency_Key=new_key()
    )
    assert refund.status_code == 202
    drain(container)
    history = gql(
        "query($id: ID!) { payment(id: $id) { ... on Payment { events { type time } } } }",
        id=payment,
    )
    events = history["payment"]["events"]
    created = _time_of(events, "Payment.Created")
    states = []
    for moment in [
        created,
        _time_of(events, "Payment.Authorized"),
        _time_of(events, "Payment.Captured"),
        _time_of(events, "Payment.RefundReserved"),
        _time_of(events, "Payment.RefundSettled"),
    ]:
        found = gql(AS_OF, id=payment, at=moment.isoformat())["payment"]
        assert datetime.fromisoformat(found["asOf"]) == moment
        states.append(
            (
                found["status"],
                found["amountCaptured"]["amountMinor"],
                found["amountRefunded"]["amountMinor"],
                [r["status"] for r in found["refunds"]],
            )
        )
    assert states == [
        ("PROCESSING", "0", "0", []),
        ("REQUIRES_CAPTURE", "0", "0", []),
        ("SUCCEEDED", "4000", "0", []),
        ("SUCCEEDED", "4000", "0", ["PENDING"]),
        ("SUCCEEDED", "4000", "1500", ["SUCCEEDED"]),
    ]
    at_capture = gql(AS_OF, id=payment, at=_time_of(events, "Payment.Captured").isoformat())
    assert at_capture["payment"]["events"][-1] == {"type": "Payment.Captured"}
    before = gql(AS_OF, id=payment, at=(created - timedelta(seconds=1)).isoformat())
    assert before["payment"] == {"__typename": "NotFoundError"}


NO_ZONE = (
    "Variable '$at' has invalid value: a moment is written in RFC 3339, e.g. 2026-01-31T12:00:00Z."
)
# Every DateTime a client sends (asOf on a payment, balances, customer totals; a range's
# bounds), as a variable `$at`.
AT_EVERY_DATETIME_INPUT = [
    'query($at: DateTime) { payment(id: "pay_x", asOf: $at) { __typename } }',
    "query($at: DateTime) { viewer { balances(asOf: $at) { currency } } }",
    'query($at: DateTime) { customer(id: "cus_x") { ... on Customer { totals(asOf: $at)'
    " { currency } } } }",
    "query($at: DateTime) { viewer { disputes(first: 1, filter: {created: {gte: $at}})"
    " { nodes { id } } } }",
]


def test_a_moment_without_a_zone_is_refused_as_rest_refuses_it(client: TestClient) -> None:
    gql = Gql(client, admin(client).merchant().key)
    for query in AT_EVERY_DATETIME_INPUT:
        for at in ["2026-12-01T00:00:00", "2026-12-01", "1796083200"]:
            body = gql.raw(query, at=at).json()
            assert body.get("data") is None, (query, at, body)
            [error] = body["errors"]
            assert error["message"] == NO_ZONE, (query, at)
            assert error["extensions"] == {"code": "invalid_argument"}
        assert "errors" not in gql.raw(query, at="2026-12-01T00:00:00+01:00").json(), query
    literal = gql.raw('{ payment(id: "pay_x", asOf: "2026-12-01T00:00:00") { __typename } }')
    [error] = literal.json()["errors"]
    assert error["message"] == NO_ZONE.replace("Variable '$at'", "Argument 'asOf'")
    assert error["extensions"] == {"code": "invalid_argument"}
