"""A value of the wrong type is refused by naming the variable or argument and the type
expected, never by echoing the value: it may be a card number or an API key pasted in
the wrong place, and error messages reach logs, screens and support tickets."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.graphql.helpers import Gql
from tests.helpers import Api, admin

PAN = "4111111111111111"
CANCEL = 'mutation($k: String!) { cancelPayment(id: "pay_x", idempotencyKey: $k) { __typename } }'
CREATE = (
    "mutation($input: CreatePaymentInput!) {"
    ' createPayment(input: $input, idempotencyKey: "k") { __typename } }'
)


def _create_literal(fields: str) -> str:
    return (
        f'mutation {{ createPayment(input: {{currency: "USD", {fields}}}, idempotencyKey: "k")'
        " { __typename } }"
    )


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


@pytest.fixture
def gql(client: TestClient, merchant: Api) -> Gql:
    return Gql(client, merchant.key)


def _refusal(gql: Gql, query: str, **variables: object) -> str:
    body = gql.raw(query, **variables).json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    message: str = error["message"]
    return message


def test_a_card_number_in_a_variable_is_not_echoed(
    gql: Gql, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    message = _refusal(gql, CANCEL, k=int(PAN))
    assert PAN not in message
    assert message == "Variable '$k' has invalid value: String cannot represent a non string value."
    nested = _refusal(gql, CREATE, input={"amount": "1", "currency": "USD", "source": int(PAN)})
    assert nested == (
        "Variable '$input' has invalid value at .source: "
        "String cannot represent a non string value."
    )
    assert PAN not in caplog.text  # nor in the log line of the refusal


def test_a_card_number_in_a_literal_is_not_echoed(gql: Gql) -> None:
    source = _refusal(gql, _create_literal(f'amount: "2500", source: {PAN}'))
    amount = _refusal(gql, _create_literal(f'amount: "{PAN}x", source: "tok_visa"'))
    key = _refusal(
        gql, f'mutation {{ cancelPayment(id: "pay_x", idempotencyKey: {PAN}) {{ __typename }} }}'
    )
    assert PAN not in source + amount + key
    assert source == (
        "Argument 'input' has invalid value at .source: String cannot represent a non string value."
    )
    assert amount == (
        "Argument 'input' has invalid value at .amount: "
        'an amount is an integer number of minor units, e.g. "2500".'
    )
    assert key == (
        "Argument 'idempotencyKey' has invalid value: String cannot represent a non string value."
    )


def test_an_api_key_in_the_wrong_place_is_not_echoed(gql: Gql, merchant: Api) -> None:
    enum = _refusal(
        gql, _create_literal(f'amount: "1", source: "t", captureMethod: {merchant.key}')
    )
    whole = _refusal(gql, CREATE, input=merchant.key)
    typed = _refusal(
        gql,
        CREATE,
        input={"amount": "1", "currency": "USD", "source": "t", "captureMethod": merchant.key},
    )
    assert merchant.key not in enum + whole + typed
    assert enum == (
        "Argument 'input' has invalid value at .captureMethod: "
        "Value does not exist in 'CaptureMethod' enum."
    )
    assert whole == (
        "Variable '$input' has invalid value: "
        "Expected value of type 'CreatePaymentInput' to be an object."
    )
    assert typed == (
        "Variable '$input' has invalid value at .captureMethod: "
        "Value does not exist in 'CaptureMethod' enum."
    )


def test_what_names_no_value_is_still_said(gql: Gql) -> None:
    missing = _refusal(gql, CREATE, input={"amount": "1", "currency": "USD"})
    unknown = _refusal(gql, _create_literal('amount: "1", source: "t", sourse: "t"'))
    assert missing == (
        "Variable '$input' has invalid value: "
        "Expected value of type 'CreatePaymentInput' to include required field 'source'."
    )
    assert unknown == (
        "Argument 'input' has invalid value: "
        "Expected value of type 'CreatePaymentInput' not to include unknown field 'sourse'."
    )
