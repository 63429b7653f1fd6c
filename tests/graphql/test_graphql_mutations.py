"""Mutations mirror the REST commands: same services, same idempotency, same refusals."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.graphql.helpers import Gql
from tests.helpers import Api, admin, drain, new_key

RESULT = (
    "__typename ... on Error { code message }"
    " ... on ValidationError { fields { field message } }"
    " ... on PaymentPayload { replayed payment { id status amount { amountMinor formatted }"
    " amountCaptured { amountMinor } captureMethod } }"
)
CREATE = (
    "mutation($input: CreatePaymentInput!, $key: String!) {"
    f" createPayment(input: $input, idempotencyKey: $key) {{ {RESULT} }} }}"
)
CAPTURE = (
    "mutation($id: ID!, $amount: MinorUnits) {"
    f" capturePayment(id: $id, amount: $amount) {{ {RESULT} }} }}"
)
CANCEL = f"mutation($id: ID!) {{ cancelPayment(id: $id) {{ {RESULT} }} }}"
REFUND = (
    "mutation($input: CreateRefundInput!, $key: String!) {"
    " createRefund(input: $input, idempotencyKey: $key) { __typename"
    " ... on Error { code } ... on RefundPayload { replayed refund { id status"
    " amount { amountMinor } payment { id } } } } }"
)


def _merchant(client: TestClient) -> tuple[Api, Gql]:
    api = admin(client).merchant()
    return api, Gql(client, api.key)


def _create(gql: Gql, key: str, **fields: Any) -> dict[str, Any]:
    payment = {"amount": "2500", "currency": "USD", "source": "tok_visa", **fields}
    result: dict[str, Any] = gql(CREATE, input=payment, key=key)["createPayment"]
    return result


def test_create_payment_shares_idempotency_with_rest_both_ways(client: TestClient) -> None:
    api, gql = _merchant(client)
    key = new_key()
    created = _create(gql, key)
    assert created["__typename"] == "PaymentPayload"
    assert created["replayed"] is False
    assert created["payment"]["status"] == "PROCESSING"
    rest = api.pay(2500, key=key)
    assert rest.headers.get("Idempotent-Replayed") == "true"
    assert rest.json()["id"] == created["payment"]["id"]
    other = new_key()
    first = api.pay(700, key=other, capture_method="manual")
    again = _create(gql, other, amount="700", captureMethod="MANUAL")
    assert again["replayed"] is True
    assert again["payment"]["id"] == first.json()["id"]


def test_a_reused_key_with_another_input_is_refused(client: TestClient) -> None:
    _, gql = _merchant(client)
    key = new_key()
    _create(gql, key)
    refused = _create(gql, key, amount="2600")
    assert refused["__typename"] == "StateError"
    assert refused["code"] == "idempotency_key_reused"


def test_amounts_beyond_32_bits_are_exact_strings(client: TestClient) -> None:
    _, gql = _merchant(client)
    created = _create(gql, new_key(), amount=str(10**12))
    assert created["payment"]["amount"] == {
        "amountMinor": "1000000000000",
        "formatted": "10000000000.00 USD",
    }


def test_inputs_are_refused_as_rest_refuses_them(client: TestClient) -> None:
    _, gql = _merchant(client)
    card = _create(gql, new_key(), description="card 4242 4242 4242 4242")
    assert (card["__typename"], card["code"]) == ("ValidationError", "card_number_refused")
    currency = _create(gql, new_key(), currency="XXX")
    assert currency["code"] == "invalid_currency"
    source = _create(gql, new_key(), source="4242424242424242")
    assert source["code"] in ("validation_error", "card_number_refused")
    assert source["fields"]
    too_big = _create(gql, new_key(), amount=str(10**12 + 1))
    assert too_big["fields"][0]["field"] == "amount"
    key = _create(gql, "x" * 300)
    assert key["code"] == "invalid_value"
    body = gql.raw(CREATE, input={"amount": 12.5, "currency": "USD", "source": "tok_visa"}, key="k")
    assert "an amount is an integer number of minor units" in body.json()["errors"][0]["message"]


def test_a_credential_in_an_input_is_not_echoed_in_its_error(client: TestClient) -> None:
    api, gql = _merchant(client)
    refused = _create(gql, new_key(), metadata={api.key: "x"})  # a key over 40 characters
    assert refused["__typename"] == "ValidationError", refused
    assert api.key not in str(refused)
    assert "[REDACTED]" in refused["fields"][0]["field"]


def test_capture_cancel_and_refund_follow_the_payment_state(
    client: TestClient, container: Container
) -> None:
    api, gql = _merchant(client)
    held = _create(gql, new_key(), captureMethod="MANUAL")["payment"]["id"]
    other = _create(gql, new_key(), captureMethod="MANUAL")["payment"]["id"]
    drain(container)
    captured = gql(CAPTURE, id=held, amount="2000")["capturePayment"]
    assert captured["payment"]["status"] == "SUCCEEDED"
    assert captured["payment"]["amountCaptured"] == {"amountMinor": "2000"}
    again = gql(CAPTURE, id=held)["capturePayment"]
    assert (again["__typename"], again["code"]) == ("StateError", "payment_not_capturable")
    assert gql(CANCEL, id=other)["cancelPayment"]["payment"]["status"] == "CANCELED"
    assert gql(CANCEL, id=held)["cancelPayment"]["code"] == "payment_not_cancelable"
    too_much = gql(REFUND, input={"payment": held, "amount": "2001"}, key=new_key())
    assert too_much["createRefund"]["code"] == "refund_exceeds_captured"
    key = new_key()
    refund = gql(REFUND, input={"payment": held, "amount": "500"}, key=key)["createRefund"]
    assert refund["refund"]["status"] == "PENDING"
    assert refund["refund"]["payment"] is None or refund["refund"]["payment"]["id"] == held
    replay = api.post("/v1/refunds", {"payment": held, "amount": 500}, Idempotency_Key=key)
    assert replay.json()["id"] == refund["refund"]["id"]
    assert replay.headers.get("Idempotent-Replayed") == "true"


def test_staff_roles_may_not_run_commands(client: TestClient) -> None:
    key = admin(client).post("/v1/api_keys", {"role": "auditor"}).json()["api_key"]
    refused = _create(Gql(client, key), new_key())
    assert refused == {
        "__typename": "NotAllowedError",
        "code": "forbidden",
        "message": "this needs a merchant key",
    }
