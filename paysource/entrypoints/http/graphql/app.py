"""Mounting GraphQL on the FastAPI app: `/graphql` for HTTP POST and websockets.

Nothing connects here: the read pools and the Redis subscriber open on first use,
in the server's event loop, and close when the app shuts down (its lifespan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from cross_web import HTTPException
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from paysource.application.errors import Unauthenticated
from paysource.application.owner_slots import OwnerSlots
from paysource.bootstrap import Container
from paysource.entrypoints.http import static
from paysource.entrypoints.http.graphql.auth import authenticate
from paysource.entrypoints.http.graphql.connections import claim_connection
from paysource.entrypoints.http.graphql.context import Context, Services, get_context
from paysource.entrypoints.http.graphql.schema import build_schema
from paysource.entrypoints.http.graphql.subscriptions import owner
from paysource.entrypoints.http.graphql.websocket import (
    MAX_SUBSCRIPTIONS_PER_CONNECTION,
    BoundedWebSocket,
    TransportWS,
)
from paysource.entrypoints.http.problems import Problem

PATH = "/graphql"


# What strawberry's refusals of a malformed HTTP request become: problems, as on REST.
_PROBLEM_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class PaysourceGraphQLRouter(GraphQLRouter[Context, None]):
    graphql_transport_ws_handler_class = TransportWS
    websocket_adapter_class = BoundedWebSocket
    max_message_bytes = 64 * 1024
    connections: OwnerSlots  # per app, so per process (mount_graphql)

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        """strawberry answers a request it cannot run (no query, a query that is not a
        string, an unknown `operationName`, batching, GET) with text/plain; REST's
        `application/problem+json` instead, through the app's problem handler."""
        try:
            return await super().run(*args, **kwargs)
        except HTTPException as error:
            code = _PROBLEM_CODES.get(error.status_code, "bad_request")
            if error.reason.startswith("Unable to parse request body as JSON"):
                code = "malformed_json"
            raise Problem(error.status_code, code, error.reason) from None

    @property
    def graphql_ide_html(self) -> str:
        # strawberry's page loads GraphiQL from a CDN: blank without internet.
        return static.localized(super().graphql_ide_html)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self.graphql_ide_html, headers=static.CSP)

    def parse_json(self, data: str | bytes) -> Any:
        # strawberry reads fields with .get(): a body of `5` or `null` became a 500.
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):  # a list is a batch, refused later
            raise HTTPException(400, "The request body must be a JSON object.")
        return parsed

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Browsers cannot set headers on websockets: the credential comes in the
        `connection_init` payload (`{"Authorization": "Bearer …"}`), or the handshake.
        An owner past its open connections is refused (TransportWS closes with 1013)."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = params.get("Authorization") or params.get("authorization")
        if authorization is None and context.request is not None:
            authorization = context.request.headers.get("authorization")
        if authorization is not None and not _credential_text(authorization):
            raise ConnectionRejectionError  # a number, a list, a lone surrogate: no credential
        services = context.services
        try:
            access = await authenticate(services.container, services.tokens, authorization)
        except (Unauthenticated, Problem):
            raise ConnectionRejectionError from None
        context.slot = claim_connection(self.connections, owner(access))  # TransportWS frees it
        context.grant(access)
        context.credential = authorization  # verified again for each operation
        return await super().on_ws_connect(context)


def services_for(container: Container) -> Services:
    """What this app's GraphQL endpoint shares across requests, all from the container
    (read pools and the payment feed are new per app: they bind to its event loop)."""
    return Services(
        container=container,
        db=container.async_reads(),
        tokens=container.tokens,
        fast_path=container.fast_path,
        feed=container.payment_feed(),
    )


def mount_graphql(app: FastAPI, container: Container) -> None:
    """Serve GraphQL at /graphql on `app` (built by paysource.entrypoints.http.app.create_app)."""
    development = container.settings.development
    services = services_for(container)
    app.state.graphql = services
    router = PaysourceGraphQLRouter(
        build_schema(development=development),
        path=PATH,
        context_getter=get_context,
        graphql_ide="graphiql" if development else None,
        # POST only: a GET query could be sent by any page a browser visits.
        allow_queries_via_get=False,
        multipart_uploads_enabled=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        include_in_schema=False,
    )
    router.max_message_bytes = container.settings.max_body_bytes
    router.connections = OwnerSlots(container.settings.max_websockets_per_owner)
    app.include_router(router)
    _close_with(app, services)


def _close_with(app: FastAPI, services: Services) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            await services.db.open()
            try:
                yield state
            finally:
                await services.db.close()
                await services.feed.close()

    app.router.lifespan_context = lifespan


def _credential_text(value: object) -> bool:
    """Credentials are ASCII text (`psk_…` keys, JWTs): anything else is refused as a
    bad credential, before it reaches code that reads it as text."""
    return isinstance(value, str) and value.isascii()
