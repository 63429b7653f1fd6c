"""Every query field, against read models written through the real REST commands."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.graphql.helpers import Gql, Shop, open_shop
from tests.helpers import admin

MONEY = "{ amountMinor currency formatted }"


def _shop(client: TestClient, container: Container) -> tuple[Shop, Gql]:
    shop = open_shop(client, container, "Acme")
    return shop, Gql(client, shop.api.key)


def test_viewer_shows_the_merchant_its_profile_balances_and_volume(
    client: TestClient, container: Container
) -> None:
    shop, gql = _shop(client, container)
    data = gql(
        "{ viewer { role merchant { id name settlementCurrency fees { basisPoints fixed"
        f" {MONEY} }} }} balances {{ currency pending {MONEY} available {MONEY}"
        f" paidOut {MONEY} }} dailyVolume {{ date currency capturesCount captured {MONEY}"
        f" refundsCount refunded {MONEY} fees {MONEY} net {MONEY} }} }} }}"
    )["viewer"]
    assert data["role"] == "MERCHANT"
    assert data["merchant"]["id"] == shop.merchant
    assert data["merchant"]["fees"]["basisPoints"] == 290
    # Captured 2500 + 1000 with fees 2.9 % + 30 (102 + 59: 72.5 rounds half-even to 72),
    # 1000 refunded; 5000 held.
    [balance] = data["balances"]
    assert balance["pending"] == {
        "amountMinor": "5000",
        "currency": "USD",
        "formatted": "50.00 USD",
    }
    assert balance["available"]["amountMinor"] == str(3500 - 102 - 59 - 1000)
    assert balance["paidOut"]["amountMinor"] == "0"
    [day] = data["dailyVolume"]
    assert day["date"] == datetime.now(UTC).date().isoformat()
    assert (day["capturesCount"], day["refundsCount"]) == (2, 1)
    assert day["captured"]["amountMinor"] == "3500"
    assert day["net"]["amountMinor"] == str(3500 - 1000 - 161)


def test_viewer_lists_are_keyset_pages_newest_first(
    client: TestClient, container: Container
) -> None:
    shop, gql = _shop(client, container)
    query = (
        "query($after: String) { viewer { payments(first: 2, after: $after) {"
        " edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } } }"
    )
    first = gql(query)["viewer"]["payments"]
    second = gql(query, after=first["pageInfo"]["endCursor"])["viewer"]["payments"]
    ids = [e["node"]["id"] for e in first["edges"] + second["edges"]]
    assert ids == [shop.bob_payment, shop.held, shop.captured]
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "endCursor": first["edges"][-1]["cursor"],
    }
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True


def test_viewer_filters_payments_and_lists_customers_and_refunds(
    client: TestClient, container: Container
) -> None:
    shop, gql = _shop(client, container)
    data = gql(
        "query($customer: ID!) { viewer {"
        " held: payments(filter: {status: REQUIRES_CAPTURE}) { nodes { id } }"
        " ada: payments(filter: {customer: $customer}) { nodes { id } }"
        " customers { nodes { id name } } refunds { nodes { id amount { amountMinor } } } } }",
        customer=shop.customer,
    )["viewer"]
    assert data["held"]["nodes"] == [{"id": shop.held}]
    assert data["ada"]["nodes"] == [{"id": shop.held}, {"id": shop.captured}]
    names = [c["name"] for c in data["customers"]["nodes"]]
    assert names == ["Bob", "Ada", "Probe"]  # newest first; the probe came first
    assert data["refunds"]["nodes"] == [{"id": shop.refund, "amount": {"amountMinor": "1000"}}]


def test_customer_shows_profile_totals_transactions_and_payments(
    client: TestClient, container: Container
) -> None:
    shop, gql = _shop(client, container)
    data = gql(
        "query($id: ID!) { customer(id: $id) { ... on Customer { id name email"
        f" totals {{ currency paymentCount spent {MONEY} refunded {MONEY} }}"
        " transactions(first: 20) { nodes { kind status amount { amountMinor }"
        " payment { id } refund { id } } }"
        " payments { nodes { id status } } } } }",
        id=shop.customer,
    )["customer"]
    assert (data["id"], data["name"], data["email"]) == (shop.customer, "Ada", "ada@example.com")
    [total] = data["totals"]
    assert total["paymentCount"] == 2
    assert total["spent"]["formatted"] == "25.00 USD"
    assert total["refunded"]["amountMinor"] == "1000"
    kinds = [(t["kind"], t["amount"]["amountMinor"]) for t in data["transactions"]["nodes"]]
    # Newest first: the refund, the held payment's authorization, the first payment's.
    assert kinds[0] == ("REFUND", "1000")
    assert sorted(kinds[1:]) == [
        ("AUTHORIZATION", "2500"),
        ("AUTHORIZATION", "5000"),
        ("CAPTURE", "2500"),
    ]
    assert data["transactions"]["nodes"][0]["refund"] == {"id": shop.refund}
    assert [p["status"] for p in data["payments"]["nodes"]] == ["REQUIRES_CAPTURE", "SUCCEEDED"]


def test_payment_shows_amounts_status_customer_refunds_risk_and_events(
    client: TestClient, container: Container
) -> None:
    shop, gql = _shop(client, container)
    data = gql(
        "query($id: ID!) { payment(id: $id) { ... on Payment { id status captureMethod"
        f" amount {MONEY} amountCaptured {MONEY} amountRefunded {MONEY} fee {MONEY}"
        " card { brand last4 } risk { outcome score } description metadata"
        " customer { name } refunds { id status amount { amountMinor } payment { id } }"
        " events { type version time data metadata } } } }",
        id=shop.captured,
    )["payment"]
    assert (data["id"], data["status"], data["captureMethod"]) == (
        shop.captured,
        "SUCCEEDED",
        "AUTOMATIC",
    )
    assert data["amountCaptured"]["amountMinor"] == "2500"
    assert data["amountRefunded"]["formatted"] == "10.00 USD"
    assert data["fee"]["amountMinor"] == "102"  # 72.5 + 30, half-even
    assert data["card"] == {"brand": "visa", "last4": "4242"}
    assert data["risk"]["outcome"] == "normal"
    assert data["customer"] == {"name": "Ada"}
    assert data["refunds"] == [
        {
            "id": shop.refund,
            "status": "SUCCEEDED",
            "amount": {"amountMinor": "1000"},
            "payment": {"id": shop.captured},
        }
    ]
    types = [e["type"] for e in data["events"]]
    assert types[0] == "Payment.Created"
    assert "Payment.RefundSettled" in types
    assert [e["version"] for e in data["events"]] == list(range(1, len(types) + 1))
    assert data["events"][0]["metadata"]["actor"] == "merchant"


def test_node_refetches_every_kind_by_its_global_id(
    client: TestClient, container: Container
) -> None:
    shop, gql = _shop(client, container)
    for global_id, typename in [
        (shop.merchant, "Merchant"),
        (shop.customer, "Customer"),
        (shop.captured, "Payment"),
        (shop.refund, "Refund"),
    ]:
        data = gql("query($id: ID!) { node(id: $id) { __typename id } }", id=global_id)
        assert data["node"] == {"__typename": typename, "id": global_id}
    assert gql('{ node(id: "pay_nope") { id } }')["node"] is None


def test_staff_read_every_merchant_and_have_no_merchant_of_their_own(
    client: TestClient, container: Container
) -> None:
    shop = open_shop(client, container, "Acme")
    response = admin(client).post("/v1/api_keys", {"role": "finance"})
    gql = Gql(client, response.json()["api_key"])
    data = gql(
        "query($id: ID!) { viewer { role merchant { id } payments { nodes { id } } }"
        " payment(id: $id) { ... on Payment { id } } }",
        id=shop.held,
    )
    assert data["viewer"]["role"] == "FINANCE"
    assert data["viewer"]["merchant"] is None
    assert len(data["viewer"]["payments"]["nodes"]) == 3
    assert data["payment"] == {"id": shop.held}


def test_unknown_ids_are_typed_not_found_results(client: TestClient, container: Container) -> None:
    _, gql = _shop(client, container)
    data = gql(
        '{ payment(id: "pay_00000000000000000000000000000001") { __typename'
        " ... on NotFoundError { code message } }"
        ' customer(id: "garbage") { ... on NotFoundError { code } } }'
    )
    assert data["payment"] == {
        "__typename": "NotFoundError",
        "code": "not_found",
        "message": "no such payment",
    }
    assert data["customer"] == {"code": "not_found"}


def test_page_size_is_capped_and_a_bad_cursor_is_a_clear_error(
    client: TestClient, container: Container
) -> None:
    _, gql = _shop(client, container)
    data = gql("{ viewer { payments(first: 1000) { nodes { id } } } }")
    assert len(data["viewer"]["payments"]["nodes"]) == 3
    body = gql.raw('{ viewer { payments(after: "bm90IGEgY3Vyc29y") { nodes { id } } } }').json()
    assert body["errors"][0]["message"] == "`after` is not a cursor from this API"
    assert body["errors"][0]["extensions"] == {"code": "invalid_cursor"}


def test_a_request_without_a_valid_credential_is_refused_before_graphql(
    client: TestClient,
) -> None:
    for headers in ({}, {"Authorization": "Bearer psk_nope"}, {"Authorization": "Bearer eyJ.x.y"}):
        response = client.post("/graphql", json={"query": "{ viewer { role } }"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["type"].endswith("/unauthenticated")


def test_daily_volume_takes_the_days_rest_takes_and_refuses_others_clearly(
    client: TestClient,
) -> None:
    gql = Gql(client, admin(client).merchant().key)
    query = "query($s: Date, $u: Date) { viewer { dailyVolume(since: $s, until: $u) { date } } }"

    a_leap_year = gql(query, s="2024-01-01", u="2024-12-31")  # 365 days apart: 366 days
    assert a_leap_year["viewer"]["dailyVolume"] == []
    for since, until in [
        (None, "0001-01-05"),  # the default `since` was before the first day there is
        ("2025-01-01", "2026-01-02"),  # 366 days apart: 367 days, one more than REST takes
        ("2025-02-01", "2025-01-01"),
        ("1969-12-31", "1970-01-01"),
    ]:
        body = gql.raw(query, s=since, u=until).json()
        assert body["data"] is None, (since, until)
        assert body["errors"][0]["extensions"] == {"code": "invalid_argument"}, body
