"""`POST /v1/payments` straight to its route function, past routing and dependency solving.

The busiest command spent about a third of the API's CPU in FastAPI's machinery between
our middleware and its route function: the exception and exit-stack wrappers, matching
the path against every route, solving the dependencies one by one (bench/README.md).
This middleware, the innermost of ours, calls the same route function with the same
dependency (`get_merchant_command`) and the same body validation (the route's own body
field), so a payment is made exactly as through FastAPI.

It takes only the plain case: no query string, no `Prefer` (a waiting request is not
CPU-bound), a body and a key that pass. Anything else (a bad body, an unknown key, a
wrong header) is handed to FastAPI untouched, which answers it as documented; the
checks made here had no effect to undo. Once the route function runs, its errors are
answered by the app's own exception handlers, as FastAPI's exception middleware would.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.telemetry._api import _route_selected
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paysource.entrypoints.http.rest.deps import get_merchant_command


class DirectPaymentCreation:
    def __init__(self, app: ASGIApp, *, route: APIRoute, fastapi: FastAPI) -> None:
        assert route.path == PATH
        assert route.methods == {"POST"}
        self.app = app
        self.route = route
        self.fastapi = fastapi
        fastapi.state.direct_payments = 0  # how many went this way (tests, debugging)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _plain_payment_creation(scope):
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        replay = _replaying(body)
        request = Request(scope, replay)
        taken = await self._take(request, body)
        if taken is None:
            await self.app(scope, replay, send)  # FastAPI answers it, as documented
            return
        route, payment, call = taken
        self.fastapi.state.direct_payments += 1
        # What FastAPI's router leaves for the logs, metrics and its own server span.
        scope.update(route=route, endpoint=route.endpoint, path_params={})
        _route_selected(scope=scope, path=route.path_format)
        try:
            response = await route.endpoint(payment, call)
        except Exception as error:  # noqa: BLE001  # answered as FastAPI would
            response = await self._answer_error(request, error)
        await response(scope, replay, send)

    async def _take(self, request: Request, body: bytes) -> tuple[APIRoute, Any, Any] | None:
        """The route, the validated body and the dependency, or None: let FastAPI say why."""
        route = self.route
        if not body or route.body_field is None:
            return None
        try:
            payment, errors = route.body_field.validate(json.loads(body), loc=("body",))
        except ValueError:
            return None
        if errors:
            return None
        headers = request.headers
        try:
            call = await get_merchant_command(
                request,
                authorization=headers.get("authorization"),
                idempotency_key=headers.get("idempotency-key"),
                traceparent=headers.get("traceparent"),
                prefer=None,
            )
        except Exception:  # noqa: BLE001  # FastAPI's dependency answers it the same way
            return None
        return route, payment, call

    async def _answer_error(self, request: Request, error: Exception) -> Response:
        """The app's handler for `error`, found as Starlette's exception middleware finds
        it (the nearest class in its MRO). None: re-raised, for the 500 of the
        ServerErrorMiddleware outside us."""
        handlers = self.fastapi.exception_handlers
        for kind in type(error).__mro__:
            if kind is Exception:
                break  # the 500 handler belongs to ServerErrorMiddleware, outside us
            if kind in handlers:
                answered = handlers[kind](request, error)
                return await answered if inspect.isawaitable(answered) else answered
        raise error


PATH = "/v1/payments"


def _plain_payment_creation(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
        return False
    if scope.get("query_string"):
        return False
    return "prefer" not in Headers(scope=scope)


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
