"""A value of the wrong type is refused by naming the variable or argument and the type
expected, never by echoing the value: it may be a card number or an API key pasted in
the wrong place, and error messages reach logs, screens and support tickets."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.graphql.helpers import Gql
from tests.helpers import Api, admin, bearer

PAN = "4111111111111111"
SECRET = "sk_live_abc123"  # a GraphQL name, like a key pasted where a name goes
UNKNOWN_FIELD = (
    "Expected value of type 'CreatePaymentInput' not to include an unknown field; "
    "its fields are amount, currency, source, customer, captureMethod, description, metadata"
)
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
    # Not the name sent (it may be anything): the names the type takes, which are ours.
    assert unknown == f"Argument 'input' has invalid value: {UNKNOWN_FIELD}."


def test_a_key_sent_as_an_input_field_name_is_not_echoed(
    gql: Gql, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    literal = _refusal(gql, _create_literal(f'amount: "1", source: "t", {SECRET}: 1'))
    variable = _refusal(
        gql, CREATE, input={"amount": "1", "currency": "USD", "source": "t", SECRET: 1}
    )
    assert literal == f"Argument 'input' has invalid value: {UNKNOWN_FIELD}."
    assert variable == f"Variable '$input' has invalid value: {UNKNOWN_FIELD}."
    assert SECRET not in caplog.text


# Documents naming what the schema does not define, and what each is refused with.
UNDEFINED_NAMES = [
    (
        f'mutation {{ cancelPayment(id: "pay_x", idempotencyKey: "k", {SECRET}: 1)'
        " { __typename } }",
        "Unknown argument on field 'Mutation.cancelPayment'.",
    ),
    (f"{{ viewer {{ {SECRET} }} }}", "Cannot query a field that type 'Viewer' does not define."),
    (f"{{ viewer @{SECRET} {{ __typename }} }}", "Unknown directive."),
    (f"{{ ...F }} fragment F on {SECRET} {{ __typename }}", "Unknown type."),
    (f"{{ viewer {{ {PAN} }} }}", "Syntax Error: Expected Name, found Int."),
    (f"{{ viewer }} {SECRET}", "Syntax Error: Unexpected Name."),
]


def test_a_name_the_schema_does_not_define_is_not_echoed(
    gql: Gql, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for document, expected in UNDEFINED_NAMES:  # one merchant for all: a loop, not params
        body = gql.raw(document).json()
        assert body.get("data") is None, body
        assert [error["message"] for error in body["errors"]] == [expected]
    assert SECRET not in caplog.text
    assert PAN not in caplog.text


# operationName travels beside the document, not in it: a key pasted there is a value,
# not a name the client declared, so it is never quoted back.
UNKNOWN_OPERATION = "Unknown operationName: no operation of the document has that name."


def test_an_unknown_operation_name_is_refused_without_quoting_it(
    client: TestClient, gql: Gql, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for document in (
        "query A { viewer { role } } query B { viewer { role } }",
        "{ viewer { role } }",
    ):
        response = client.post(
            "/graphql",
            json={"query": document, "operationName": SECRET},
            headers=bearer(gql.credential),
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == UNKNOWN_OPERATION
    assert SECRET not in caplog.text


def test_an_unknown_operation_name_closes_a_websocket_without_quoting_it(
    client: TestClient, gql: Gql, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    document = 'subscription S { paymentUpdated(id: "pay_x") { __typename } }'
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        init = {"Authorization": f"Bearer {gql.credential}"}
        ws.send_json({"type": "connection_init", "payload": init})
        assert ws.receive_json()["type"] == "connection_ack"
        payload = {"query": document, "operationName": SECRET}
        ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
        assert ws.receive() == {
            "type": "websocket.close",
            "code": 4400,
            "reason": UNKNOWN_OPERATION,
        }
    assert SECRET not in caplog.text


def test_a_name_sent_twice_or_in_a_conflict_is_not_echoed(
    gql: Gql, caplog: pytest.LogCaptureFixture
) -> None:
    """graphql-core's uniqueness and field-merging rules quote the names they compare,
    even names the schema does not define (a key pasted twice where a name goes)."""
    caplog.set_level(logging.DEBUG)
    documents = (
        f"{{ viewer {{ payments(first: 1, {SECRET}: 1, {SECRET}: 2) {{ __typename }} }} }}",
        f'mutation {{ cancelPayment(id: "pay_x", idempotencyKey: "k", {SECRET}: 1, {SECRET}: 2)'
        " { __typename } }",
        _create_literal(f'amount: "1", source: "t", {SECRET}: 1, {SECRET}: 2'),
        f"{{ viewer {{ a: {SECRET} a: __typename }} }}",
    )
    for document in documents:
        body = gql.raw(document).json()
        assert body.get("data") is None, body
        assert body["errors"], body
        assert SECRET not in str(body), body
    assert SECRET not in caplog.text
