"""`viewer.events` (the feed) and `asOf` on balances and customer totals."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.graphql.helpers import Gql, token
from tests.helpers import Api, admin, drain, new_key

EVENTS = (
    "query($type: [String!], $object: ID) { viewer { events(first: 100, type: $type,"
    " object: $object) { nodes { position type objectKind objectId version merchant"
    " actor { kind } requestId time } } } }"
)
BALANCES = (
    "query($at: DateTime) { viewer { balances(asOf: $at) {"
    " currency available { amountMinor } pending { amountMinor } } } }"
)
TOTALS = (
    "query($id: ID!, $at: DateTime) { customer(id: $id) { ... on Customer {"
    " totals(asOf: $at) { currency paymentCount spent { amountMinor } } } } }"
)
PAYMENT_AS_OF = (
    "query($id: ID!, $at: DateTime) { payment(id: $id, asOf: $at) { ... on Payment { status } } }"
)


def _events(gql: Gql, **variables: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = gql(EVENTS, **variables)["viewer"]["events"]["nodes"]
    return nodes


def test_the_feed_shows_a_merchant_its_own_events_and_customers_none(
    client: TestClient, container: Container
) -> None:
    staff = admin(client)
    mine, theirs = staff.merchant(), staff.merchant()
    payment = mine.pay(1200).json()["id"]
    theirs.pay(800)
    drain(container)

    events = _events(Gql(client, mine.key))
    assert len({e["merchant"] for e in events}) == 1
    assert payment in {e["objectId"] for e in events}
    history = _events(Gql(client, mine.key), object=payment)
    assert [e["version"] for e in history] == list(range(1, len(history) + 1))
    assert history[0]["type"] == "Payment.Created"
    assert payment not in {e["objectId"] for e in _events(Gql(client, theirs.key))}
    assert _events(Gql(client, theirs.key), object=payment) == []
    assert _events(Gql(client, token(mine, customer=_customer(mine)))) == []
    assert len({e["merchant"] for e in _events(Gql(client, staff.key))}) == 2
    huge = base64.urlsafe_b64encode(f"e1|{2**63}".encode()).decode()
    for cursor in ("nope", huge):
        bad = Gql(client, mine.key).raw(EVENTS.replace("first: 100", f'after: "{cursor}"'))
        assert bad.json()["errors"][0]["extensions"]["code"] == "invalid_cursor"


def _customer(api: Api) -> str:
    body = api.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=new_key()).json()
    customer: str = body["id"]
    return customer


def test_balances_and_customer_totals_as_of_before_and_after_a_capture(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    customer = _customer(api)
    payment = api.pay(3000, capture_method="manual", customer=customer).json()["id"]
    drain(container)
    assert api.post(f"/v1/payments/{payment}/capture").status_code == 200
    drain(container)
    times = {e["type"]: e["time"] for e in api.get(f"/v1/payments/{payment}/events").json()["data"]}
    gql = Gql(client, api.key)

    held = gql(BALANCES, at=times["Payment.Authorized"])["viewer"]["balances"]
    assert [(b["pending"]["amountMinor"], b["available"]["amountMinor"]) for b in held] == [
        ("3000", "0")  # amounts are strings in GraphQL (beyond 2^53)
    ]
    now = gql(BALANCES)["viewer"]["balances"]
    assert gql(BALANCES, at=times["Payment.Captured"])["viewer"]["balances"] == now

    before = gql(TOTALS, id=customer, at=times["Payment.Authorized"])["customer"]["totals"]
    after = gql(TOTALS, id=customer, at=times["Payment.Captured"])["customer"]["totals"]
    assert [(t["paymentCount"], t["spent"]["amountMinor"]) for t in before] == [(1, "0")]
    assert after == gql(TOTALS, id=customer)["customer"]["totals"]
    assert gql(TOTALS, id=customer, at="2000-01-01T00:00:00Z")["customer"]["totals"] == []


def test_customer_totals_and_a_payment_read_a_moment_in_any_zone_alike(
    client: TestClient, container: Container
) -> None:
    # A time without a zone is refused (test_graphql_as_of.py); one with an offset is
    # the same instant whatever the offset.
    api = admin(client).merchant()
    customer = _customer(api)
    payment = api.pay(3000, capture_method="manual", customer=customer).json()["id"]
    drain(container)
    assert api.post(f"/v1/payments/{payment}/capture").status_code == 200
    drain(container)
    times = {e["type"]: e["time"] for e in api.get(f"/v1/payments/{payment}/events").json()["data"]}
    held = datetime.fromisoformat(times["Payment.Authorized"]).astimezone(UTC)
    gql = Gql(client, api.key)

    for moment in (held, datetime(2030, 1, 1, tzinfo=UTC)):
        elsewhere = moment.astimezone(timezone(timedelta(hours=-5))).isoformat()
        totals = gql(TOTALS, id=customer, at=elsewhere)["customer"]["totals"]
        assert totals == gql(TOTALS, id=customer, at=moment.isoformat())["customer"]["totals"]
        status = gql(PAYMENT_AS_OF, id=payment, at=elsewhere)["payment"]["status"]
        spent = "3000" if status == "SUCCEEDED" else "0"
        assert [(t["paymentCount"], t["spent"]["amountMinor"]) for t in totals] == [(1, spent)]


PAGE = (
    "query($after: String, $first: Int!) { viewer { events(first: $first, after: $after) {"
    " edges { cursor node { id position } } pageInfo { hasNextPage endCursor } } } }"
)


def _paged(gql: Gql, first: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = gql(PAGE, first=first, after=after)["viewer"]["events"]
        seen.extend(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


def test_a_merchants_feed_has_no_positions_and_its_cursors_are_event_ids(
    client: TestClient, container: Container
) -> None:
    # As REST's (tests/e2e/test_event_feed.py): a position would show other merchants'
    # volume; staff keep theirs.
    staff = admin(client)
    mine, theirs = staff.merchant(), staff.merchant()
    mine.pay(1200)
    theirs.pay(800)
    drain(container)
    everything = _paged(Gql(client, mine.key), 100)
    assert len(everything) > 2
    assert all(e["node"]["position"] is None for e in everything)
    assert all(e["cursor"] == e["node"]["id"] for e in everything)
    assert _paged(Gql(client, mine.key), 2) == everything
    rest = mine.get("/v1/events", limit=100).json()["data"]
    assert [e["node"]["id"] for e in everything] == [e["id"] for e in rest]

    of_staff = _paged(Gql(client, staff.key), 3)
    assert all(isinstance(e["node"]["position"], int) for e in of_staff)
    theirs_cursor = _paged(Gql(client, theirs.key), 100)[0]["cursor"]
    for cursor in (of_staff[0]["cursor"], theirs_cursor):
        bad = Gql(client, mine.key).raw(PAGE, first=1, after=cursor)
        assert bad.json()["errors"][0]["extensions"]["code"] == "invalid_cursor", cursor
