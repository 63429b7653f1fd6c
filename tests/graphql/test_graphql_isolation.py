"""No BOLA: merchant A's key, A's tokens and a customer token of A, against every id
of merchant B in every field, mutation and subscription, get exactly the answer an
unknown id gets; nothing of B leaks and nothing of B changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devtools.localservices import LocalPostgres, LocalRedis
from paysource.bootstrap import Container
from tests.conftest import module_container
from tests.graphql.conftest import graphql_app
from tests.graphql.helpers import Gql, Shop, open_shop, settle, token

PREFIX = {
    "merchant": "mer",
    "customer": "cus",
    "other_customer": "cus",
    "captured": "pay",
    "held": "pay",
    "bob_payment": "pay",
    "refund": "re",
    "settlement": "stl",
}
READS = {
    "pay": [
        "query($id: ID!) { payment(id: $id) { __typename ... on Error { code message }"
        " ... on Payment { id status } } }",
        'query($id: ID!) { payment(id: $id, asOf: "2100-01-01T00:00:00Z") { __typename'
        " ... on Error { code message } ... on Payment { id } } }",
        "query($id: ID!) { node(id: $id) { id } }",
    ],
    "cus": [
        "query($id: ID!) { customer(id: $id) { __typename ... on Error { code message }"
        " ... on Customer { id name } } }",
        "query($id: ID!) { node(id: $id) { id } }",
        "query($id: ID!) { viewer { payments(filter: {customer: $id}) { nodes { id } } } }",
    ],
    "re": ["query($id: ID!) { node(id: $id) { id } }"],
    "mer": ["query($id: ID!) { node(id: $id) { id } }"],
    "stl": [
        "query($id: ID!) { settlement(id: $id) { __typename ... on Error { code message }"
        " ... on Settlement { id status net { amountMinor } items { payment { id } } } } }",
        "query($id: ID!) { node(id: $id) { id } }",
    ],
}
RESULT = "__typename ... on Error { code message } ... on PaymentPayload { payment { id } }"
MUTATIONS = {
    "pay": [
        f"mutation($id: ID!) {{ capturePayment(id: $id) {{ {RESULT} }} }}",
        f'mutation($id: ID!) {{ capturePayment(id: $id, amount: "1") {{ {RESULT} }} }}',
        f"mutation($id: ID!) {{ cancelPayment(id: $id) {{ {RESULT} }} }}",
        'mutation($id: ID!) { createRefund(input: {payment: $id}, idempotencyKey: "k1") {'
        " __typename ... on Error { code message } } }",
    ],
    "cus": [
        'mutation($id: ID!) { createPayment(input: {amount: "100", currency: "USD",'
        ' source: "tok_visa", customer: $id}, idempotencyKey: "k2") {'
        f" {RESULT} }} }}",
    ],
}


@dataclass(frozen=True)
class World:
    a: Shop
    b: Shop
    callers: dict[str, Gql]
    a_settlement: str
    b_settlement: str

    @property
    def b_ids(self) -> dict[str, str]:
        return {**self.b.ids, "settlement": self.b_settlement}


@pytest.fixture(scope="module")
def container(
    postgres: LocalPostgres, template_url: str, redis_server: LocalRedis
) -> Iterator[Container]:
    """One world for the module: every test checks that B is left untouched."""
    with module_container(postgres, redis_server, "test_graphql_isolation") as built:
        yield built


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(graphql_app(container)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def world(client: TestClient, container: Container) -> World:
    a = open_shop(client, container, "Alpha")
    b = open_shop(client, container, "Beta")
    callers = {
        "a_key": Gql(client, a.api.key),
        "a_token": Gql(client, token(a.api)),
        "a_customer_token": Gql(client, token(a.api, customer=a.customer)),
    }
    # Settled and paid out: A's callers must not see B's settlement either.
    a_settlement = settle(client, container, a.merchant)
    b_settlement = settle(client, container, b.merchant)
    return World(a, b, callers, a_settlement, b_settlement)


def _unknown(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _answer(gql: Gql, query: str, global_id: str) -> Any:
    response = gql.raw(query, id=global_id)
    assert response.status_code == 200, response.text
    return response.json()


CASES = [
    (caller, target, query)
    for caller in ("a_key", "a_token", "a_customer_token")
    for target, prefix in PREFIX.items()
    for query in READS[prefix] + MUTATIONS.get(prefix, [])
]


@pytest.mark.parametrize(("caller", "target", "query"), CASES)
def test_another_merchants_id_answers_exactly_like_an_unknown_one(
    world: World, caller: str, target: str, query: str
) -> None:
    gql = world.callers[caller]
    b_id = world.b_ids[target]
    unknown = _answer(gql, query, _unknown(PREFIX[target]))
    # The query runs (a broken one would answer both alike with the same errors).
    assert "errors" not in unknown, unknown
    assert _answer(gql, query, b_id) == unknown


def test_a_customer_token_sees_its_customer_only(world: World) -> None:
    gql = world.callers["a_customer_token"]
    a = world.a
    for other in (a.other_customer, a.bob_payment, world.a_settlement):
        assert gql("query($id: ID!) { node(id: $id) { id } }", id=other) == {"node": None}
    data = gql(
        "{ viewer { role customer { id } balances { currency } dailyVolume { date }"
        " payments { nodes { id } } customers { nodes { id } } refunds { nodes { id } }"
        " settlements { nodes { id } } } }"
    )["viewer"]
    assert data["role"] == "CUSTOMER"
    assert data["customer"] == {"id": a.customer}
    assert data["balances"] == []
    assert data["dailyVolume"] == []
    assert {p["id"] for p in data["payments"]["nodes"]} == {a.captured, a.held}
    assert data["customers"]["nodes"] == [{"id": a.customer}]
    assert data["refunds"]["nodes"] == [{"id": a.refund}]
    assert data["settlements"]["nodes"] == []  # the merchant's business, not its customers'


def test_a_customer_token_changes_nothing_even_its_own(world: World) -> None:
    gql = world.callers["a_customer_token"]
    result = gql(f"mutation($id: ID!) {{ cancelPayment(id: $id) {{ {RESULT} }} }}", id=world.a.held)
    assert result["cancelPayment"]["__typename"] == "NotAllowedError"


def test_lists_of_a_hold_nothing_of_b(world: World) -> None:
    gql = world.callers["a_key"]
    data = gql(
        "{ viewer { payments(first: 100) { nodes { id customer { id } refunds { id } } }"
        " customers(first: 100) { nodes { id transactions { nodes { payment { id } } } } }"
        " refunds(first: 100) { nodes { id payment { id } } } } }"
    )
    # Items on a page of settlements cost much: a page of 10 (cost.py).
    settlements = gql(
        "{ viewer { settlements(first: 10) { nodes { id items { payment { id } refund { id } } }"
        " } } }"
    )
    assert settlements["viewer"]["settlements"]["nodes"][0]["id"] == world.a_settlement
    text = str(data) + str(settlements)
    for b_id in world.b_ids.values():
        assert b_id not in text


def test_b_is_untouched(world: World) -> None:
    data = Gql(world.b.api.client, world.b.api.key)(
        "{ viewer { payments { nodes { status amountCaptured { amountMinor } refunds { id } } } } }"
    )
    statuses = sorted(p["status"] for p in data["viewer"]["payments"]["nodes"])
    assert statuses == ["REQUIRES_CAPTURE", "SUCCEEDED", "SUCCEEDED"]
    refunds = [r for p in data["viewer"]["payments"]["nodes"] for r in p["refunds"]]
    assert refunds == [{"id": world.b.refund}]


@pytest.mark.parametrize("caller", ["a_key", "a_token", "a_customer_token"])
def test_subscribing_to_bs_payment_answers_like_an_unknown_one(
    world: World, client: TestClient, caller: str
) -> None:
    credential = world.callers[caller].credential
    answers = [
        _subscribe_once(client, credential, payment) for payment in (world.b.held, _unknown("pay"))
    ]
    assert answers[0] == answers[1]
    assert answers[0]["paymentUpdated"]["__typename"] == "NotFoundError"


def _subscribe_once(client: TestClient, credential: str, payment: str) -> Any:
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {credential}"}}
        )
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($id: ID!) { paymentUpdated(id: $id) { __typename"
                    " ... on Error { code message } } }",
                    "variables": {"id": payment},
                },
            }
        )
        message = ws.receive_json()
        assert message["type"] == "next", message
        assert ws.receive_json()["type"] == "complete"
        return message["payload"]["data"]


DETAILS = (
    "query($id: ID!) { viewer { merchant { name fees { basisPoints } } }"
    " payment(id: $id) { ... on Payment { status card { last4 } fee { amountMinor }"
    " risk { outcome score reasons } description metadata events { type version data metadata }"
    " customer { name metadata transactions { nodes { kind fee { amountMinor } } } }"
    " refunds { amount { amountMinor } } } } }"
)


def test_a_customer_token_sees_its_payments_not_the_merchants_business(world: World) -> None:
    """Fees, risk, the merchant's notes and event internals answer null for a shopper's
    token (policy.Detail); the merchant's own key and token see them all."""
    a = world.a
    for caller in ("a_key", "a_token"):
        data = world.callers[caller](DETAILS, id=a.captured)
        payment = data["payment"]
        assert data["viewer"]["merchant"]["fees"] is not None
        assert payment["fee"] is not None
        assert payment["risk"] is not None
        assert payment["description"] == "order 1"
        assert payment["metadata"] == {}
        assert payment["customer"]["metadata"] == {}
        assert all(e["data"] is not None and e["metadata"] for e in payment["events"])
        assert all(t["fee"] is not None for t in payment["customer"]["transactions"]["nodes"])
    data = world.callers["a_customer_token"](DETAILS, id=a.captured)
    payment = data["payment"]
    assert data["viewer"]["merchant"] == {"name": "Alpha", "fees": None}
    assert payment["status"] == "SUCCEEDED"
    assert payment["card"]["last4"]  # the shopper's own card
    assert payment["refunds"] == [{"amount": {"amountMinor": "1000"}}]
    hidden = ("fee", "risk", "description", "metadata")
    assert {field: payment[field] for field in hidden} == dict.fromkeys(hidden)
    assert payment["customer"]["name"] == "Ada"
    assert payment["customer"]["metadata"] is None
    transactions = payment["customer"]["transactions"]["nodes"]
    assert transactions
    assert all(t["fee"] is None for t in transactions)
    events = payment["events"]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["type"] and e["data"] is None and e["metadata"] is None for e in events)
    assert "request_hash" not in str(data)
    assert "idempotency" not in str(data)
