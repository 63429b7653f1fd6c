"""graphql-transport-ws on /graphql, held to what a POST is held to.

A websocket authenticates at `connection_init`, and then again for every operation
it starts (`subscribe`): the credential is verified anew (a token's `exp`, an API
key's revocation, as the authenticator's 30 s cache sees it) and the operation counts
against the same rate limits as a POST. A watchdog re-checks the credential every
RECHECK_S and at the token's `exp`, and ends the connection (every running
subscription with it) with `4403 Forbidden` once it is no longer valid. Only
subscriptions run over a websocket (limits.Validate); queries and mutations are sent
with POST. Messages are at most `max_message_bytes` (the HTTP body limit), at most
MAX_SUBSCRIPTIONS_PER_CONNECTION operations run at once, and an owner keeps at most
`PAYSOURCE_MAX_WEBSOCKETS_PER_OWNER` connections open per process (connections.py):
past it, `connection_init` is answered with `1013 Try Again Later`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from json import JSONDecodeError
from typing import Any

from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from paysource.application.errors import Unauthenticated, Unavailable
from paysource.entrypoints.http.graphql.auth import authenticate
from paysource.entrypoints.http.graphql.connections import TooManyConnections
from paysource.entrypoints.http.graphql.context import Context
from paysource.entrypoints.http.problems import Problem

log = logging.getLogger(__name__)

# Operations running at once on one websocket.
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20
# How often a connection's credential is verified again while nothing else asks.
RECHECK_S = 30.0
# Close code of RFC 6455 for a message larger than the endpoint accepts.
MESSAGE_TOO_BIG = 1009
# Close code (IANA registry of RFC 6455) for a temporary refusal: too many connections.
TRY_AGAIN_LATER = 1013


class TransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws: each `subscribe` authenticated, rate-limited and capped;
    the connection ends when its credential does."""

    async def handle_message(self, message: Any) -> None:
        # strawberry reads the fields as the protocol shapes them and catches only a
        # missing one: `5`, `{"id": {}}` or a string payload raised past it (a traceback
        # per message, the socket dropped without a close code). The protocol's answer
        # to a malformed message is 4400.
        if not well_formed(message):
            await self.handle_invalid_message("Invalid message received")
            return
        await super().handle_message(message)

    recheck_s = RECHECK_S
    watchdog: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)  # claims the slot (on_ws_connect)
        except TooManyConnections as refused:
            # Not 4403: the credential is fine, and clients retry this one later.
            await self.websocket.close(code=TRY_AGAIN_LATER, reason=str(refused))
            return
        if self.connection_acknowledged and self.watchdog is None:
            self.watchdog = asyncio.create_task(self._watch())

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_subscribe(message)  # closes the connection, as it should
            return
        operation_id = message["id"]
        if len(self.operations) >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            await self.refuse(
                operation_id,
                f"Too many operations on this connection ({MAX_SUBSCRIPTIONS_PER_CONNECTION} at "
                "most): complete some, or open another connection.",
                code="too_many_subscriptions",
                limit=MAX_SUBSCRIPTIONS_PER_CONNECTION,
            )
            return
        try:
            await self._verify(count=True)
        except Unauthenticated:
            await self.end()
            return
        except Problem as problem:  # over a rate limit
            await self.refuse(operation_id, problem.detail, code=problem.code, retryAfterSeconds=1)
            return
        except Unavailable as error:
            await self.refuse(operation_id, error.detail, code=error.code, retryAfterSeconds=1)
            return
        await super().handle_subscribe(message)

    async def _verify(self, *, count: bool) -> None:
        """Unauthenticated unless the connection's credential is still valid."""
        context = self.context
        if context.access.expired(datetime.now(UTC)):
            raise Unauthenticated("the token has expired")
        services = context.services
        await authenticate(services.container, services.tokens, context.credential, count=count)

    async def _watch(self) -> None:
        """End the connection when its credential stops being valid."""
        while True:
            wait = self.recheck_s
            expires_at = self.context.access.expires_at
            if expires_at is not None:
                wait = min(wait, (expires_at - datetime.now(UTC)).total_seconds())
            await asyncio.sleep(max(wait, 0.0))
            try:
                await self._verify(count=False)
            except Unauthenticated:
                await self.end()
                return
            except Exception:  # the key store unavailable: keep the connection, try again
                log.warning("graphql: re-checking a websocket's credential failed", exc_info=True)

    async def end(self) -> None:
        """Stop every operation, then close: `4403 Forbidden`, as for a bad credential
        at `connection_init` (clients reconnect with a fresh one)."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(Exception):  # already closing
            await self.websocket.close(code=4403, reason="Forbidden")

    async def refuse(self, operation_id: str, message: str, **extensions: Any) -> None:
        error = GraphQLError(message, extensions=extensions)
        await self.send_message({"id": operation_id, "type": "error", "payload": [error.formatted]})

    async def shutdown(self) -> None:
        # First, before anything awaits: however the connection ended, its slot is free.
        if self.context.slot is not None:
            self.context.slot.release()
        watchdog = self.watchdog
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watchdog
        await super().shutdown()


_OPTIONAL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}


def well_formed(message: object) -> bool:
    """Whether `message` has the graphql-transport-ws shape its type calls for: an
    object with a string `type`; a string `id` where there is one (`subscribe` and
    `complete` need it); an object as payload, and a `subscribe`'s with a string
    `query` and, if present, object `variables` and `extensions`, string name."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    kind, payload = message["type"], message.get("payload")
    needs_id = "id" in message or kind in ("subscribe", "complete")
    if needs_id and not isinstance(message.get("id"), str):
        return False
    if payload is not None and not isinstance(payload, dict):
        return False
    if kind != "subscribe":
        return True
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and all(isinstance(payload.get(name), kinds) for name, kinds in _OPTIONAL_FIELDS.items())
    )


class BoundedWebSocket(ASGIWebSocketAdapter):
    """strawberry's adapter, closing the connection (1009) on a message larger than
    the view's `max_message_bytes` instead of decoding it, and reading nothing more
    once the connection was closed from our side."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        limit: int = getattr(self.view, "max_message_bytes", 64 * 1024)
        try:
            while not _closed(self.ws):
                try:
                    text = await self.ws.receive_text()
                    if _closed(self.ws):
                        return  # closed by us while waiting (an ended credential): no answer
                    if len(text) > limit // 4 and len(text.encode()) > limit:
                        await self.ws.close(code=MESSAGE_TOO_BIG, reason="Message too big")
                        return
                    yield self.view.decode_json(text)
                except JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:  # a binary message
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass


def _closed(ws: WebSocket) -> bool:
    return ws.application_state == WebSocketState.DISCONNECTED
