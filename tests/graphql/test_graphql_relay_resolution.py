"""`resolveRelay`: the admin's mutation for a refused capture, REST's twin."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.conftest import ADMIN_KEY
from tests.graphql.helpers import Gql
from tests.helpers import admin, drain, new_key

RESOLVE = (
    "mutation($id: ID!, $action: RelayAction!, $reason: String!, $key: String!) {"
    " resolveRelay(id: $id, action: $action, reason: $reason, idempotencyKey: $key) {"
    " __typename ... on Error { code }"
    " ... on PaymentPayload { replayed payment { id settlementHold"
    " relayResolution { action outcome reason failure } } } } }"
)
SHOW = (
    "query($id: ID!) { payment(id: $id) { ... on Payment {"
    " relayFailures settlementHold relayResolution { action outcome reason } } } }"
)


def _resolve(gql: Gql, payment: str, action: str, key: str, reason: str = "OPS-7") -> Any:
    return gql(RESOLVE, id=payment, action=action, reason=reason, key=key)["resolveRelay"]


def test_an_admin_reverses_a_refused_capture_and_the_merchant_sees_why(
    client: TestClient, container: Container
) -> None:
    merchant = admin(client).merchant()
    refused = merchant.pay(1_500, source="tok_capture_refused").json()["id"]
    drain(container)
    operator, own = Gql(client, ADMIN_KEY), Gql(client, merchant.key)
    assert own(SHOW, id=refused)["payment"]["settlementHold"] == "capture_refused"

    key = new_key()
    done = _resolve(operator, refused, "REVERSE", key)
    again = _resolve(operator, refused, "REVERSE", key)
    other = _resolve(operator, refused, "RETRY", key)
    drain(container)

    assert done["__typename"] == "PaymentPayload", done
    assert (done["replayed"], again["replayed"]) == (False, True)
    assert again["payment"] == done["payment"]
    assert done["payment"]["relayResolution"] == {
        "action": "reverse",
        "outcome": "reversed",
        "reason": "OPS-7",
        "failure": "",
    }
    assert other["code"] == "idempotency_key_reused", other
    shown = own(SHOW, id=refused)["payment"]
    assert shown == {
        "relayFailures": ["capture"],
        "settlementHold": None,
        "relayResolution": {"action": "reverse", "outcome": "reversed", "reason": "OPS-7"},
    }
    # REST replays the same key with the same answer: one command, whichever API.
    rest = admin(client).post(
        f"/v1/payments/{refused}/resolve_relay",
        {"action": "reverse", "reason": "OPS-7"},
        Idempotency_Key=key,
    )
    assert rest.status_code == 200, rest.text
    assert rest.headers.get("Idempotent-Replayed") == "true"


def test_a_merchant_cannot_resolve_and_bad_input_is_a_typed_error(
    client: TestClient, container: Container
) -> None:
    merchant = admin(client).merchant()
    refused = merchant.pay(1_500, source="tok_capture_refused").json()["id"]
    drain(container)

    refused_to = _resolve(Gql(client, merchant.key), refused, "RETRY", new_key())
    empty_reason = _resolve(Gql(client, ADMIN_KEY), refused, "RETRY", new_key(), reason="")

    assert refused_to["__typename"] == "NotAllowedError", refused_to
    assert empty_reason["__typename"] == "ValidationError", empty_reason
    held = Gql(client, merchant.key)(SHOW, id=refused)["payment"]
    assert (held["settlementHold"], held["relayResolution"]) == ("capture_refused", None)
