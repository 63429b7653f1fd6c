"""A websocket is held to what a POST is held to: each operation authenticated and
rate-limited, the connection ending with its token, subscriptions only, bounded
messages."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from paysource.application.errors import Unauthenticated
from paysource.application.tokens import AUDIENCE, ISSUER, issuer_for
from paysource.bootstrap import Container
from paysource.entrypoints.http.graphql.websocket import TransportWS
from tests.graphql.test_graphql_rate_limits import _limit
from tests.graphql.test_graphql_subscriptions import SUBSCRIPTION
from tests.helpers import Api, admin

PROTOCOL = ["graphql-transport-ws"]
FORBIDDEN = {"type": "websocket.close", "code": 4403, "reason": "Forbidden"}


def _short_token(container: Container, api: Api, seconds: int) -> tuple[str, float]:
    """A token of `api`'s merchant that expires in `seconds` (below the mint minimum)."""
    merchant = api.post("/v1/tokens", {}).json()["token"]
    claims = jwt.decode(merchant, options={"verify_signature": False})
    now = int(time.time())
    short = {"iss": ISSUER, "aud": AUDIENCE, "sub": claims["sub"], "iat": now}
    secret = issuer_for(container.settings)._secret
    return jwt.encode({**short, "exp": now + seconds}, secret, algorithm="HS256"), now + seconds


def _init(ws: WebSocketTestSession, credential: str) -> None:
    ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {credential}"}})
    assert ws.receive_json()["type"] == "connection_ack"


def _subscribe(ws: WebSocketTestSession, operation: str, payment: str) -> None:
    payload = {"query": SUBSCRIPTION, "variables": {"id": payment}}
    ws.send_json({"id": operation, "type": "subscribe", "payload": payload})


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def test_a_running_subscription_ends_when_its_token_expires(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    payment = api.pay(1000).json()["id"]
    credential, expires = _short_token(container, api, 2)
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        _init(ws, credential)
        _subscribe(ws, "1", payment)
        assert ws.receive_json()["type"] == "next"
        _sleep_until(expires + 0.5)
        _subscribe(ws, "2", payment)  # answered with `next` if nothing ended the socket
        assert ws.receive() == FORBIDDEN


def test_no_operation_starts_once_the_token_has_expired(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def asleep(_: TransportWS) -> None:
        return None

    monkeypatch.setattr(TransportWS, "_watch", asleep)  # the check at `subscribe` alone
    api = admin(client).merchant()
    payment = api.pay(1000).json()["id"]
    credential, expires = _short_token(container, api, 1)
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        _init(ws, credential)
        _sleep_until(expires + 0.2)
        _subscribe(ws, "1", payment)
        assert ws.receive() == FORBIDDEN


def test_a_revoked_key_ends_its_connections(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TransportWS, "recheck_s", 0.1)
    api = admin(client).merchant()
    payment = api.pay(1000).json()["id"]
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        _init(ws, api.key)
        _subscribe(ws, "1", payment)
        assert ws.receive_json()["type"] == "next"

        def revoked(_: str) -> Any:
            raise Unauthenticated("this API key was revoked")

        monkeypatch.setattr(container.authenticator, "authenticate", revoked)
        time.sleep(0.5)
        ws.send_json({"type": "ping"})  # answered with `pong` if nothing ended the socket
        assert ws.receive() == FORBIDDEN


def test_each_operation_counts_against_the_rate_limit(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    payment = api.pay(1000).json()["id"]
    time.sleep(1.1)  # a fresh window for the key
    _limit(container, 5)
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        _init(ws, api.key)  # the first request of the window
        for operation in range(15):
            _subscribe(ws, str(operation), payment)
        answers = [ws.receive_json() for _ in range(15)]
    started = [a for a in answers if a["type"] == "next"]
    refused = [a for a in answers if a["type"] == "error"]
    assert len(started) <= 4
    assert len(started) + len(refused) == 15
    assert {a["payload"][0]["extensions"]["code"] for a in refused} == {"rate_limited"}


def test_only_subscriptions_run_over_a_websocket(client: TestClient) -> None:
    api = admin(client).merchant()
    mutation = (
        'mutation { createPayment(input: {amount: "100", currency: "USD", source: "tok_visa"},'
        ' idempotencyKey: "ws-1") { __typename } }'
    )
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        _init(ws, api.key)
        for operation, query in (("1", mutation), ("2", "{ viewer { role } }")):
            ws.send_json({"id": operation, "type": "subscribe", "payload": {"query": query}})
            answer = ws.receive_json()
            assert answer["type"] == "error", answer
            assert answer["payload"][0]["extensions"] == {"code": "operation_not_allowed"}
    assert api.get("/v1/payments").json()["data"] == []


def test_a_message_larger_than_the_body_limit_closes_the_connection(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    big = "x" * (container.settings.max_body_bytes + 1)
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        _init(ws, api.key)
        ws.send_json({"type": "ping", "payload": {"padding": big}})
        assert ws.receive() == {
            "type": "websocket.close",
            "code": 1009,
            "reason": "Message too big",
        }


@pytest.mark.parametrize(
    "message",
    [
        5,
        [],
        "x",
        None,
        {"type": 5},
        {"type": "subscribe", "id": "1", "payload": "x"},
        {"type": "subscribe", "id": {}, "payload": {"query": SUBSCRIPTION}},
        {"type": "subscribe", "id": "1", "payload": {"query": 5}},
        {"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIPTION, "variables": 5}},
        {"type": "complete", "id": {}},
        {"type": "ping", "payload": []},
    ],
)
def test_a_malformed_message_closes_the_connection_as_the_protocol_says(
    client: TestClient, message: object
) -> None:
    api = admin(client).merchant()
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        _init(ws, api.key)
        ws.send_json(message)
        closed = ws.receive()
    assert (closed["type"], closed["code"]) == ("websocket.close", 4400), closed


@pytest.mark.parametrize("authorization", [5, ["x"], "Bearer \udcff", {"Bearer": "x"}])
def test_a_credential_that_is_not_text_is_forbidden(
    client: TestClient, authorization: object
) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        # As text: a lone surrogate is valid JSON, but send_json could not encode it.
        init = {"type": "connection_init", "payload": {"Authorization": authorization}}
        ws.send_text(json.dumps(init))
        assert ws.receive() == FORBIDDEN
