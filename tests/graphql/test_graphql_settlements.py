"""Settlements over GraphQL, settled and paid out through the real service and worker:
fields against the REST representation, items from the event store, pages, `node`,
who sees which, and a constant number of SQL statements per page."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from paysource.adapters.bank_sim import BankBehaviour, SimulatedBank
from paysource.application.ids import Kind, decode
from paysource.bootstrap import Container
from tests.conftest import ADMIN_KEY
from tests.graphql.helpers import Gql, Shop, open_shop, settle, token
from tests.helpers import Api, admin, drain, new_key

MONEY = "{ amountMinor currency formatted }"
SETTLEMENT = (
    "query($id: ID!) { settlement(id: $id) { __typename ... on Error { code message }"
    " ... on Settlement { id currency cutoff status"
    f" gross {MONEY} refunds {MONEY} fees {MONEY} carriedIn {MONEY} net {MONEY}"
    " itemsCount payoutReference failureReason createdAt updatedAt version merchant { id }"
    " items { kind amount { amountMinor } fee { amountMinor } net { amountMinor }"
    " payment { id status } refund { id } carriedFrom { id status } } } } }"
)
PAGE = (
    "query($first: Int!, $after: String, $status: SettlementStatus) { viewer {"
    " settlements(first: $first, after: $after, filter: {status: $status}) {"
    " edges { cursor node { id status net { amountMinor } } }"
    " pageInfo { hasNextPage hasPreviousPage endCursor } } } }"
)


def _merchant(api: Api) -> str:
    value: str = api.get("/v1/balance").json()["merchant"]
    return value


def _bank(container: Container) -> SimulatedBank:
    assert isinstance(container.bank, SimulatedBank)
    return container.bank


def _settled_shop(client: TestClient, container: Container) -> tuple[Shop, str]:
    shop = open_shop(client, container, "Acme")
    return shop, settle(client, container, shop.merchant)


def _settlement(gql: Gql, global_id: str) -> dict[str, Any]:
    found: dict[str, Any] = gql(SETTLEMENT, id=global_id)["settlement"]
    return found


def test_a_paid_settlement_shows_the_rest_amounts_payout_and_items(
    client: TestClient, container: Container
) -> None:
    shop, settlement = _settled_shop(client, container)
    rest = shop.api.get(f"/v1/settlements/{settlement}").json()

    data = _settlement(Gql(client, shop.api.key), settlement)

    # Captured 2500 (fee 102: 72.5 rounds half-even, + 30) and 1000 (fee 59), 1000 of
    # the first refunded; the held payment is not settled.
    assert data["__typename"] == "Settlement"
    assert (data["id"], data["status"], data["currency"]) == (settlement, "PAID", "USD")
    assert data["merchant"] == {"id": shop.merchant}
    assert data["gross"] == {"amountMinor": "3500", "currency": "USD", "formatted": "35.00 USD"}
    assert data["refunds"]["amountMinor"] == "1000"
    assert data["fees"]["amountMinor"] == "161"
    assert data["carriedIn"]["amountMinor"] == "0"
    assert data["net"]["formatted"] == "23.39 USD"
    assert (data["itemsCount"], data["failureReason"]) == (3, None)
    assert data["payoutReference"] == rest["payout_reference"] is not None
    assert data["version"] == rest["version"]
    for field, rest_field in (("createdAt", "created"), ("cutoff", "cutoff")):
        assert datetime.fromisoformat(data[field]) == datetime.fromisoformat(rest[rest_field])
    assert [
        (
            item["kind"].lower(),
            item["payment"]["id"],
            item["refund"] and item["refund"]["id"],
            int(item["amount"]["amountMinor"]),
            int(item["fee"]["amountMinor"]),
            int(item["net"]["amountMinor"]),
        )
        for item in data["items"]
    ] == [
        (i["kind"], i["payment"], i["refund"], i["amount"], i["fee"], i["net"])
        for i in rest["items"]
    ]
    kinds = sorted((i["kind"], i["payment"]["id"]) for i in data["items"])
    assert kinds == sorted(
        [("CAPTURE", shop.captured), ("CAPTURE", shop.bob_payment), ("REFUND", shop.captured)]
    )
    refund_item = next(i for i in data["items"] if i["kind"] == "REFUND")
    assert refund_item["refund"] == {"id": shop.refund}
    assert refund_item["net"] == {"amountMinor": "-1000"}
    assert all(item["carriedFrom"] is None for item in data["items"])


def test_a_failed_settlement_keeps_its_items_and_a_debit_is_carried_into_the_next(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    merchant = _merchant(api)
    gql = Gql(client, api.key)
    first = api.pay(10_000).json()["id"]
    drain(container)
    _bank(container).behaviour = BankBehaviour(
        refuse_merchants=frozenset({decode(Kind.MERCHANT, merchant)})
    )
    failed = settle(client, container, merchant)
    _bank(container).behaviour = BankBehaviour()
    paid = settle(client, container, merchant)  # the released capture, paid this time
    api.post("/v1/refunds", {"payment": first, "amount": 6_000}, Idempotency_Key=new_key())
    drain(container)
    debit = settle(client, container, merchant)
    api.pay(20_000)
    drain(container)
    last = settle(client, container, merchant)

    found = {
        name: _settlement(gql, sid)
        for name, sid in [("failed", failed), ("paid", paid), ("debit", debit), ("last", last)]
    }

    assert found["failed"]["status"] == "FAILED"
    assert found["failed"]["failureReason"] == "account_closed"
    assert found["failed"]["payoutReference"] is None
    # Released for the next settlement, yet still what the failed one settled.
    assert [(i["kind"], i["payment"]["id"]) for i in found["failed"]["items"]] == [
        ("CAPTURE", first)
    ]
    assert found["paid"]["status"] == "PAID"
    assert found["paid"]["items"] == found["failed"]["items"]
    assert found["debit"]["status"] == "CARRIED_FORWARD"
    assert found["debit"]["net"]["amountMinor"] == "-6000"
    assert found["last"]["carriedIn"]["amountMinor"] == "-6000"
    carried = [i for i in found["last"]["items"] if i["kind"] == "CARRIED_FORWARD"]
    assert carried == [
        {
            "kind": "CARRIED_FORWARD",
            "amount": {"amountMinor": "-6000"},
            "fee": {"amountMinor": "0"},
            "net": {"amountMinor": "-6000"},
            "payment": None,
            "refund": None,
            "carriedFrom": {"id": debit, "status": "CARRIED_FORWARD"},
        }
    ]


def test_viewer_settlements_are_keyset_pages_newest_first_filtered_by_status(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    merchant = _merchant(api)
    gql = Gql(client, api.key)
    made = []
    for amount in (1_000, 2_000, 3_000):
        api.pay(amount)
        drain(container)
        made.append(settle(client, container, merchant))
    small = api.pay(500).json()["id"]
    drain(container)
    refund = api.post("/v1/refunds", {"payment": small}, Idempotency_Key=new_key())
    assert refund.status_code == 202, refund.text
    drain(container)
    made.append(settle(client, container, merchant))  # 500 - fee - 500: carried forward

    first = gql(PAGE, first=3)["viewer"]["settlements"]
    second = gql(PAGE, first=3, after=first["pageInfo"]["endCursor"])["viewer"]["settlements"]
    carried = gql(PAGE, first=100, status="CARRIED_FORWARD")["viewer"]["settlements"]
    capped = gql(PAGE, first=1000)["viewer"]["settlements"]

    ids = [e["node"]["id"] for e in first["edges"] + second["edges"]]
    assert ids == made[::-1]
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "endCursor": first["edges"][-1]["cursor"],
    }
    assert (second["pageInfo"]["hasNextPage"], second["pageInfo"]["hasPreviousPage"]) == (
        False,
        True,
    )
    assert [e["node"]["id"] for e in carried["edges"]] == [made[-1]]
    assert carried["edges"][0]["node"]["status"] == "CARRIED_FORWARD"
    assert len(capped["edges"]) == 4
    assert gql(PAGE, first=10, status="FAILED")["viewer"]["settlements"]["edges"] == []


def test_node_refetches_a_settlement_and_unknown_ids_are_not_found(
    client: TestClient, container: Container
) -> None:
    shop, settlement = _settled_shop(client, container)
    gql = Gql(client, shop.api.key)
    node = "query($id: ID!) { node(id: $id) { __typename id ... on Settlement { status } } }"

    assert gql(node, id=settlement)["node"] == {
        "__typename": "Settlement",
        "id": settlement,
        "status": "PAID",
    }
    unknown = f"stl_{uuid.uuid4().hex}"
    for missing in (unknown, "stl_nope", shop.captured.replace("pay_", "stl_")):
        assert gql(node, id=missing)["node"] is None
        assert _settlement(gql, missing) == {
            "__typename": "NotFoundError",
            "code": "not_found",
            "message": "no such settlement",
        }
    # A payment's id is not a settlement's, even if the hex were one.
    wrong_kind = settlement.replace("stl_", "pay_")
    assert _settlement(gql, wrong_kind)["__typename"] == "NotFoundError"


def test_merchants_see_their_own_staff_see_all_customer_tokens_see_none(
    client: TestClient, container: Container
) -> None:
    a, a_settlement = _settled_shop(client, container)
    b = open_shop(client, container, "Beta")
    b_settlement = settle(client, container, b.merchant)
    listing = "{ viewer { settlements(first: 100) { nodes { id merchant { id } } } } }"

    def listed(gql: Gql) -> list[str]:
        return [n["id"] for n in gql(listing)["viewer"]["settlements"]["nodes"]]

    for merchant_gql in (Gql(client, a.api.key), Gql(client, token(a.api))):
        assert listed(merchant_gql) == [a_settlement]
        assert _settlement(merchant_gql, a_settlement)["status"] == "PAID"
    staff_keys = [
        admin(client).post("/v1/api_keys", {"role": role}).json()["api_key"]
        for role in ("finance", "auditor")
    ]
    for key in [*staff_keys, ADMIN_KEY]:
        staff = Gql(client, key)
        assert listed(staff) == [b_settlement, a_settlement]
        found = _settlement(staff, b_settlement)
        assert found["merchant"] == {"id": b.merchant}
        assert {i["payment"]["id"] for i in found["items"]} == {b.captured, b.bob_payment}
    customer = Gql(client, token(a.api, customer=a.customer))
    assert listed(customer) == []
    unknown = f"stl_{uuid.uuid4().hex}"
    assert _settlement(customer, a_settlement) == _settlement(customer, unknown)
    assert customer("query($id: ID!) { node(id: $id) { id } }", id=a_settlement) == {"node": None}


def test_a_page_of_settlements_with_items_costs_the_same_statements_at_any_size(
    app: FastAPI, client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    merchant = _merchant(api)
    for number in range(6):
        customer = api.post("/v1/customers", {"name": f"C{number}"}).json()["id"]
        paid = api.pay(1_000 + number, customer=customer).json()["id"]
        drain(container)
        api.post("/v1/refunds", {"payment": paid, "amount": 100}, Idempotency_Key=new_key())
        drain(container)
        settle(client, container, merchant)
    gql = Gql(client, api.key)
    query = (
        "query($first: Int!) { viewer { settlements(first: $first) { nodes { id"
        " merchant { name } items { kind payment { id customer { name } } refund { id }"
        " carriedFrom { id } } } } } }"
    )
    db = app.state.graphql.db

    def statements(first: int) -> tuple[int, int]:
        before = db.statements
        nodes = gql(query, first=first)["viewer"]["settlements"]["nodes"]
        assert all(len(n["items"]) == 2 for n in nodes)
        return db.statements - before, len(nodes)

    # The page, its merchant, the items' payments, their customers, the refunds; the
    # items themselves are read from the event store, in one batch.
    assert {first: statements(first) for first in (2, 6)} == {2: (5, 2), 6: (5, 6)}
