"""Disputes through REST: the whole lifecycle (won and lost) with the ledger balanced at
every step and settlements reflecting it, lists with filters, isolation, evidence
limits and Idempotency-Key replays, and the simulator's `tok_disputed`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paysource.application.webhooks.catalog import standard_catalog
from paysource.bootstrap import Container
from paysource.config import Settings
from tests.e2e.test_cli import env_for, paysource
from tests.helpers import Api, admin, drain, new_key

FEE = 1_500  # the dispute fee of a 2-decimal currency


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


def unbalanced_entries(container: Container) -> list[Any]:
    with container.router.all()[0].read.datastore.cursor() as curs:
        return curs.execute(
            "SELECT entry_id FROM postings GROUP BY entry_id, currency, phase"
            " HAVING sum(CASE side WHEN 'D' THEN amount_minor ELSE -amount_minor END) <> 0"
        ).fetchall()


def available(api: Api) -> int:
    (usd,) = api.get("/v1/balance").json()["available"]
    return int(usd["amount"])


def captured(api: Api, container: Container, amount: int = 10_000, **fields: Any) -> str:
    payment: str = api.pay(amount, **fields).json()["id"]
    drain(container)
    assert api.get(f"/v1/payments/{payment}").json()["status"] == "succeeded"
    return payment


def open_dispute(client: TestClient, payment: str, **body: Any) -> dict[str, Any]:
    answer = admin(client).post(
        "/v1/disputes",
        {"payment": payment, "reason": "fraudulent", **body},
        Idempotency_Key=new_key(),
    )
    assert answer.status_code == 201, answer.text
    dispute: dict[str, Any] = answer.json()
    return dispute


def evidence(api: Api, dispute: str, body: dict[str, Any], key: str | None = None) -> Any:
    return api.post(f"/v1/disputes/{dispute}/evidence", body, Idempotency_Key=key or new_key())


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_a_dispute_lifecycle_keeps_the_ledger_balanced_and_settles(
    client: TestClient, merchant: Api, container: Container, outcome: str
) -> None:
    payment = captured(merchant, container)
    before = available(merchant)

    dispute = open_dispute(client, payment, amount=2_000)
    assert (dispute["status"], dispute["amount"], dispute["fee"]) == ("needs_response", 2_000, FEE)
    drain(container)
    assert available(merchant) == before - 2_000 - FEE
    assert unbalanced_entries(container) == []

    answered = evidence(merchant, dispute["id"], {"shipping_tracking": "1Z999AA10123456784"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "under_review"
    drain(container)
    assert unbalanced_entries(container) == []

    closed = admin(client).post(f"/v1/disputes/{dispute['id']}/close", {"outcome": outcome})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == outcome
    again = admin(client).post(f"/v1/disputes/{dispute['id']}/close", {"outcome": outcome})
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = "lost" if outcome == "won" else "won"
    refused = admin(client).post(f"/v1/disputes/{dispute['id']}/close", {"outcome": other})
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("dispute_closed")
    drain(container)
    taken = 0 if outcome == "won" else 2_000 + FEE
    assert available(merchant) == before - taken
    assert unbalanced_entries(container) == []

    owed = available(merchant)
    settlement = settle(client, merchant, container)
    kinds = sorted(item["kind"] for item in settlement["items"])
    expected = ["capture", "dispute", "dispute_won"] if outcome == "won" else ["capture", "dispute"]
    assert kinds == expected
    assert settlement["disputes"] == -taken
    assert settlement["net"] == settlement["gross"] - settlement["fees"] - taken
    assert settlement["net"] == owed  # the settlement pays what the ledger says is owed
    drain(container)
    assert unbalanced_entries(container) == []
    query = """query($id: ID!) { settlement(id: $id) { ... on Settlement {
      disputes { amountMinor } items { kind } } } }"""
    shown = graphql(merchant, query, id=settlement["id"])["settlement"]
    assert shown["disputes"] == {"amountMinor": str(-taken)}
    assert sorted(i["kind"] for i in shown["items"]) == [k.upper() for k in expected]
    events = merchant.get(f"/v1/disputes/{dispute['id']}/events").json()["data"]
    assert [e["type"] for e in events] == [
        "Dispute.Opened",
        "Dispute.EvidenceSubmitted",
        "Dispute.Won" if outcome == "won" else "Dispute.Lost",
    ]


def settle(client: TestClient, merchant: Api, container: Container) -> dict[str, Any]:
    merchant_id = merchant.get("/v1/balance").json()["merchant"]
    until = container.clock.now().isoformat()
    answer = admin(client).post(
        "/v1/settlements", {"merchant": merchant_id, "currency": "USD", "until": until}
    )
    assert answer.status_code == 201, answer.text
    settlement: dict[str, Any] = answer.json()
    return settlement


def test_lists_filter_by_status_payment_and_time_and_stay_with_their_merchant(
    client: TestClient, merchant: Api, container: Container
) -> None:
    first, second = captured(merchant, container), captured(merchant, container, 5_000)
    one, two = open_dispute(client, first), open_dispute(client, second)
    assert one["amount"] == 10_000  # all of it by default
    assert evidence(merchant, two["id"], {"uncategorized_text": "signed"}).status_code == 200
    drain(container)

    def ids(**params: Any) -> list[str]:
        answer = merchant.get("/v1/disputes", **params)
        assert answer.status_code == 200, answer.text
        return [d["id"] for d in answer.json()["data"]]

    assert ids() == [two["id"], one["id"]]
    assert ids(status="needs_response") == [one["id"]]
    assert ids(status="under_review") == [two["id"]]
    assert ids(payment=first) == [one["id"]]
    assert ids(limit=1) == [two["id"]]
    assert ids(limit=1, starting_after=two["id"]) == [one["id"]]
    assert ids(**{"created[gte]": one["created"]}) == [two["id"], one["id"]]
    assert ids(**{"created[lt]": "2000-01-01T00:00:00Z"}) == []
    assert merchant.get("/v1/disputes", status="pending").status_code == 422

    other = admin(client).merchant("Other")
    assert other.get("/v1/disputes").json()["data"] == []
    assert other.get(f"/v1/disputes/{one['id']}").status_code == 404
    assert other.get(f"/v1/disputes/{one['id']}/events").status_code == 404
    stolen = evidence(other, one["id"], {"uncategorized_text": "mine"})
    assert stolen.status_code == 404
    assert merchant.get(f"/v1/disputes/{one['id']}").json()["status"] == "needs_response"
    everyone = admin(client).get("/v1/disputes").json()["data"]
    assert {d["id"] for d in everyone} == {one["id"], two["id"]}


def test_evidence_limits_are_clear_422s_and_keys_replay(
    client: TestClient, merchant: Api, container: Container
) -> None:
    dispute = open_dispute(client, captured(merchant, container))["id"]
    too_long = evidence(merchant, dispute, {"uncategorized_text": "x" * 5_001})
    assert too_long.status_code == 422
    assert too_long.json()["type"].endswith("invalid_value")
    assert "uncategorized_text" in too_long.json()["detail"]
    fields = [
        "product_description",
        "customer_communication",
        "refund_policy",
        "uncategorized_text",
    ]
    too_much = evidence(
        merchant, dispute, dict.fromkeys(fields, "x" * 5000) | {"customer_name": "y"}
    )
    assert too_much.status_code == 422
    assert "totals" in too_much.json()["detail"]
    assert evidence(merchant, dispute, {"photo": "x"}).status_code == 422
    assert evidence(merchant, dispute, {"uncategorized_text": 7}).status_code == 422
    assert evidence(merchant, dispute, {}).status_code == 422
    unkeyed = merchant.post(f"/v1/disputes/{dispute}/evidence", {"uncategorized_text": "x"})
    assert unkeyed.status_code == 400
    assert merchant.get(f"/v1/disputes/{dispute}").json()["status"] == "needs_response"

    key = new_key()
    body = {"customer_communication": "The customer confirmed delivery by email."}
    first = evidence(merchant, dispute, body, key)
    assert first.status_code == 200, first.text
    replay = evidence(merchant, dispute, body, key)
    assert replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    assert evidence(merchant, dispute, {"uncategorized_text": "other"}, key).status_code == 422
    second = evidence(merchant, dispute, {"uncategorized_text": "more"})
    assert second.status_code == 409
    assert merchant.get(f"/v1/disputes/{dispute}").json()["evidence"] == body


def test_admins_open_one_dispute_per_payment_within_what_was_captured(
    client: TestClient, merchant: Api, container: Container
) -> None:
    payment = captured(merchant, container, 3_000)
    staff = admin(client)
    too_much = staff.post("/v1/disputes", {"payment": payment, "amount": 3_001})
    assert too_much.status_code == 422
    assert too_much.json()["type"].endswith("dispute_exceeds_captured")
    key = new_key()
    body = {"payment": payment, "reason": "duplicate"}
    first = staff.post("/v1/disputes", body, Idempotency_Key=key)
    assert first.status_code == 201
    again = staff.post("/v1/disputes", body, Idempotency_Key=key)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert staff.post("/v1/disputes", {**body, "amount": 5}, Idempotency_Key=key).status_code == 422
    assert staff.post("/v1/disputes", {**body, "amount": 5}).status_code == 409
    assert merchant.post("/v1/disputes", body).status_code == 403
    assert staff.post("/v1/disputes", {"payment": "pay_" + "0" * 32}).status_code == 404


def test_closing_honours_the_idempotency_key_deciding_once(
    client: TestClient, merchant: Api, container: Container
) -> None:
    staff = admin(client)
    dispute = open_dispute(client, captured(merchant, container))["id"]
    other = open_dispute(client, captured(merchant, container))["id"]
    key = new_key()
    path = f"/v1/disputes/{dispute}/close"

    first = staff.post(path, {"outcome": "won"}, Idempotency_Key=key)
    again = staff.post(path, {"outcome": "won"}, Idempotency_Key=key)
    other_outcome = staff.post(path, {"outcome": "lost"}, Idempotency_Key=key)
    other_dispute = staff.post(
        f"/v1/disputes/{other}/close", {"outcome": "won"}, Idempotency_Key=key
    )

    assert (first.status_code, first.json()["status"]) == (200, "won"), first.text
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (200, "true")
    assert again.json() == first.json()
    for reused in (other_outcome, other_dispute):
        assert reused.status_code == 422, reused.text
        assert reused.json()["type"].endswith("/idempotency_key_reused")
    events = merchant.get(f"/v1/disputes/{dispute}/events").json()["data"]
    assert [e["type"] for e in events] == ["Dispute.Opened", "Dispute.Won"]  # decided once
    assert merchant.get(f"/v1/disputes/{other}").json()["status"] == "needs_response"


def test_a_tok_disputed_payment_is_disputed_by_the_acquirer_after_capture(
    merchant: Api, container: Container
) -> None:
    payment = captured(merchant, container, 4_200, source="tok_disputed")
    drain(container)
    (dispute,) = merchant.get("/v1/disputes", payment=payment).json()["data"]
    assert (dispute["status"], dispute["amount"], dispute["reason"]) == (
        "needs_response",
        4_200,
        "fraudulent",
    )
    assert (
        available(merchant)
        == 4_200 - merchant.get(f"/v1/payments/{payment}").json()["fee"] - 4_200 - FEE
    )
    drain(container)  # asked once: a second pass opens nothing more
    assert len(merchant.get("/v1/disputes").json()["data"]) == 1
    assert unbalanced_entries(container) == []


def test_dispute_webhooks_are_in_the_catalog() -> None:
    assert {"dispute.created", "dispute.evidence_submitted", "dispute.won", "dispute.lost"} <= (
        standard_catalog().event_types
    )


def test_operators_open_close_and_erase_the_evidence_of_disputes_from_the_cli(
    merchant: Api, container: Container, settings: Settings
) -> None:
    payment = captured(merchant, container, 6_000)
    env = env_for(settings)

    opened = paysource(
        "disputes", "open", payment, "--amount", "2500", "--reason", "duplicate", env=env
    )
    assert opened.returncode == 0, opened.stderr
    dispute = json.loads(opened.stdout)
    assert (dispute["amount"], dispute["reason"], dispute["status"]) == (
        2_500,
        "duplicate",
        "needs_response",
    )
    again = paysource(
        "disputes", "open", payment, "--amount", "2500", "--reason", "duplicate", env=env
    )
    assert json.loads(again.stdout)["id"] == dispute["id"]

    # A payment with no customer: an operator erases one dispute's evidence.
    answered = evidence(
        merchant, dispute["id"], {"customer_name": "Ida Noone", "refund_policy": "30d"}
    )
    assert answered.status_code == 200, answered.text
    erased = paysource("disputes", "erase-evidence", dispute["id"], "--yes", env=env)
    assert erased.returncode == 0, erased.stderr
    shown = merchant.get(f"/v1/disputes/{dispute['id']}").json()["evidence"]
    assert shown == {"customer_name": "[erased]", "refund_policy": "30d"}

    closed = paysource("disputes", "close", dispute["id"], "--outcome", "lost", env=env)
    assert closed.returncode == 0, closed.stderr
    assert json.loads(closed.stdout)["status"] == "lost"
    unknown = paysource("disputes", "close", "dp_" + "0" * 32, "--outcome", "won", env=env)
    assert unknown.returncode != 0
    assert "no such" in unknown.stderr


CONSOLE_LIST = """query Disputes($first: Int!, $after: String) {
  viewer { disputes(first: $first, after: $after) {
    edges { cursor node { id status amount { formatted } reason createdAt } }
    pageInfo { hasNextPage endCursor }
  } }
}"""


def graphql(api: Api, query: str, **variables: Any) -> dict[str, Any]:
    answer = api.post("/graphql", {"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def test_graphql_lists_disputes_as_the_console_asks_and_on_their_payment(
    client: TestClient, merchant: Api, container: Container
) -> None:
    payment = captured(merchant, container, 2_500)
    dispute = open_dispute(client, payment, amount=1_000)
    drain(container)

    listed = graphql(merchant, CONSOLE_LIST, first=10, after=None)["viewer"]["disputes"]
    (edge,) = listed["edges"]
    assert edge["node"]["id"] == dispute["id"]
    assert (edge["node"]["status"], edge["node"]["amount"]["formatted"]) == (
        "NEEDS_RESPONSE",
        "10.00 USD",
    )
    query = """query($id: ID!, $p: ID!) {
      node(id: $id) { ... on Dispute { fee { amountMinor } dueBy payment { id } } }
      viewer { disputes(first: 5, filter: {status: WON}) { nodes { id } }
               mine: disputes(first: 5, filter: {payment: $p}) { nodes { id } } }
      payment(id: $p) { ... on Payment { disputes { id status } } }
    }"""
    data = graphql(merchant, query, id=dispute["id"], p=payment)
    assert data["node"]["fee"] == {"amountMinor": str(FEE)}  # MinorUnits: a string
    assert data["node"]["payment"] == {"id": payment}
    assert data["viewer"]["disputes"]["nodes"] == []
    assert data["viewer"]["mine"]["nodes"] == [{"id": dispute["id"]}]
    assert data["payment"]["disputes"] == [{"id": dispute["id"], "status": "NEEDS_RESPONSE"}]

    other = admin(client).merchant("Other")
    assert graphql(other, CONSOLE_LIST, first=10, after=None)["viewer"]["disputes"]["edges"] == []
    assert graphql(other, "query($id: ID!) { node(id: $id) { id } }", id=dispute["id"]) == {
        "node": None
    }


CREATED = """query($range: DateTimeRange!) {
  viewer { disputes(first: 10, filter: {created: $range}) { nodes { id } } }
}"""


def test_graphql_filters_disputes_by_when_they_were_opened_within_the_merchant(
    client: TestClient, merchant: Api, container: Container
) -> None:
    first = open_dispute(client, captured(merchant, container))["id"]
    second = open_dispute(client, captured(merchant, container, 5_000))["id"]
    other = admin(client).merchant("Other")
    theirs = open_dispute(client, captured(other, container))["id"]
    drain(container)
    query = "query($id: ID!) { node(id: $id) { ... on Dispute { createdAt } } }"
    opened = graphql(merchant, query, id=second)["node"]["createdAt"]

    def listed(api: Api, **bounds: str) -> list[str]:
        found = graphql(api, CREATED, range=bounds)["viewer"]["disputes"]["nodes"]
        return [node["id"] for node in found]

    assert listed(merchant, gte=opened) == [second]
    assert listed(merchant, lt=opened) == [first]
    assert listed(merchant, gte="2000-01-01T00:00:00Z") == [second, first]
    assert listed(merchant, gte="2000-01-01T00:00:00Z", lt="2000-01-02T00:00:00Z") == []
    assert listed(other, gte="2000-01-01T00:00:00Z") == [theirs]
    assert listed(other, gte=opened) == [theirs]  # opened after `second`: never A's
    naive = merchant.post(
        "/graphql", {"query": CREATED, "variables": {"range": {"gte": "2026-12-01T00:00:00"}}}
    ).json()
    assert naive["errors"][0]["extensions"]["code"] == "invalid_argument"


def test_the_statement_shows_a_dispute_taken_and_given_back(
    client: TestClient, merchant: Api, container: Container
) -> None:
    dispute = open_dispute(client, captured(merchant, container, 8_000), amount=3_000)
    admin(client).post(f"/v1/disputes/{dispute['id']}/close", {"outcome": "won"})
    drain(container)
    today = container.clock.now().date().isoformat()

    statement = merchant.get("/v1/reports/statement", **{"from": today, "to": today}).json()

    (usd,) = statement["currencies"]
    assert usd["reconciles"] is True
    lines = [(ln["type"], ln["amount"], ln["payment"]) for ln in usd["lines"]]
    assert [line for line in lines if line[0].startswith("dispute")] == [
        ("dispute", -3_000, None),
        ("dispute", -FEE, None),
        ("dispute_won", 3_000, None),
        ("dispute_won", FEE, None),
    ]


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_a_disputed_payment_is_refunded_only_once_the_merchant_won(
    client: TestClient, merchant: Api, container: Container, outcome: str
) -> None:
    payment = captured(merchant, container)
    dispute = open_dispute(client, payment, amount=2_000)

    refused = merchant.post(
        "/v1/refunds", {"payment": payment, "amount": 1_000}, Idempotency_Key=new_key()
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/payment_disputed")

    closed = admin(client).post(f"/v1/disputes/{dispute['id']}/close", {"outcome": outcome})
    assert closed.status_code == 200, closed.text
    after = merchant.post(
        "/v1/refunds", {"payment": payment, "amount": 1_000}, Idempotency_Key=new_key()
    )
    assert after.status_code == (202 if outcome == "won" else 409), after.text
