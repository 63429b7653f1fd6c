"""`POST /v1/payments` straight to its route function, past routing and dependency solving.

The busiest command spent much of the API's CPU in FastAPI's machinery between our
middleware and its route function: the exception and exit-stack wrappers, matching the
path against every route, solving the dependencies one by one (bench/README.md). This
middleware, the innermost of ours, calls the same route function with the same
dependency (`get_merchant_command`) and the same body validation (the route's own body
field), so a payment is made exactly as through FastAPI.

It takes the plain case: no query string (the routers' one shared dependency,
`reject_unknown`, only reads it) and no `Prefer` (a waiting request is not CPU-bound).
A body that does not validate is handed to FastAPI untouched (nothing was done yet),
which answers it as documented. From there on, as in FastAPI, the dependency is solved
once and its errors (a bad key: 401) and the route function's are answered by the app's
own exception handlers, found as Starlette's exception middleware finds them.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paysource.entrypoints.http.rest.deps import get_merchant_command
from paysource.entrypoints.http.rest.lists import reject_unknown

try:  # FastAPI's own server span names the route it matched (0.165 and later)
    from fastapi.telemetry._api import _route_selected
except ImportError:  # pragma: no cover - older FastAPI: no span of its own to name

    def _route_selected(*, scope: Scope, path: str | None, mount: bool = False) -> None:
        return None


class DirectPaymentCreation:
    def __init__(
        self, app: ASGIApp, *, route: APIRoute, fastapi: FastAPI, shared: Sequence[Any]
    ) -> None:
        assert route.path == PATH
        assert route.methods == {"POST"}
        # The routers' dependencies are skipped here: a new one must be reckoned with.
        assert [d.dependency for d in shared] == [reject_unknown], "see direct.py"
        self.app = app
        self.route = route
        self.fastapi = fastapi
        fastapi.state.direct_payments = 0  # how many went this way (tests, debugging)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _plain_payment_creation(scope):
            await self.app(scope, receive, send)
            return
        # BodyLimitMiddleware (outside us) read and checked the whole body already.
        body = await _read(receive)
        replay = _replaying(body)
        payment = self._valid_body(body)
        if payment is None:
            await self.app(scope, replay, send)  # FastAPI says why, as documented
            return
        request = Request(scope, replay)
        self.fastapi.state.direct_payments += 1
        # What FastAPI's router leaves for the logs, metrics and its own server span.
        scope.update(route=self.route, endpoint=self.route.endpoint, path_params={})
        _route_selected(scope=scope, path=self.route.path_format)
        try:
            # Solved once: FastAPI, too, answers its failure (a bad key: 401) with the
            # handlers, before the body would matter.
            call = await get_merchant_command(
                request,
                authorization=request.headers.get("authorization"),
                idempotency_key=request.headers.get("idempotency-key"),
                traceparent=request.headers.get("traceparent"),
                prefer=None,
            )
            response = await self.route.endpoint(payment, call)
        except Exception as error:  # noqa: BLE001  # answered as FastAPI would
            response = await self._answer_error(request, error)
        await response(scope, replay, send)

    def _valid_body(self, body: bytes) -> Any:
        """The body as the route's own field validates it, or None (FastAPI's 422)."""
        field = self.route.body_field
        if not body or field is None:
            return None
        try:
            payment, errors = field.validate(json.loads(body), loc=("body",))
        except ValueError:
            return None
        return None if errors else payment

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
