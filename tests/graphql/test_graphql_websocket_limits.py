"""Open websockets are capped per owner (a merchant with all its credentials, or a staff
key) in each process: an idle authenticated connection holds a watchdog task, so an
uncapped key could pile them up. The slot is freed however the connection ends."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from paysource.config import Settings
from tests.graphql.test_graphql_websocket import PROTOCOL, _init
from tests.helpers import admin

CAP = 3
REFUSED = {
    "type": "websocket.close",
    "code": 1013,
    "reason": f"Too many open connections ({CAP} at most for one merchant or key)",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_websockets_per_owner": CAP})


def _open(stack: ExitStack, client: TestClient, credential: str) -> WebSocketTestSession:
    ws = stack.enter_context(client.websocket_connect("/graphql", subprotocols=PROTOCOL))
    _init(ws, credential)
    return ws


def _refused(client: TestClient, credential: str) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": credential}})
        assert ws.receive() == REFUSED


def test_the_default_cap_is_fifty() -> None:
    assert Settings.model_fields["max_websockets_per_owner"].default == 50


def test_a_connection_past_the_cap_is_refused_until_one_closes(client: TestClient) -> None:
    api = admin(client).merchant()
    with ExitStack() as stack:
        with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as first:
            _init(first, api.key)
            for _ in range(CAP - 1):
                _open(stack, client, api.key)

            _refused(client, f"Bearer {api.key}")
            _open(stack, client, admin(client).merchant().key)  # another merchant: its own cap
        # Leaving the block waits for the server to finish with `first`.

        _open(stack, client, api.key)
        _refused(client, f"Bearer {api.key}")


def test_a_connection_the_server_ends_frees_its_slot(client: TestClient) -> None:
    api = admin(client).merchant()
    big = "x" * (70 * 1024)  # past the 64 KiB body limit
    with ExitStack() as stack:
        with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ended:
            _init(ended, api.key)
            for _ in range(CAP - 1):
                _open(stack, client, api.key)
            ended.send_json({"type": "ping", "payload": {"padding": big}})
            assert ended.receive()["code"] == 1009

        _open(stack, client, api.key)
        _refused(client, f"Bearer {api.key}")
