"""HEAD is answered as GET, without the body (RFC 9110 §9.3.2), by the middleware:
servers drop a HEAD's body too, but not every one, and the test client always does,
so this is checked on the ASGI messages themselves."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from starlette.types import Message, Scope

from paysource.entrypoints.http.head import HeadAsGetMiddleware

BODY = b'{"status":"ok"}'


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/thing")
    def thing() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/command")
    def command() -> None:
        return None

    return app


def _call(method: str, path: str, scope: Scope | None = None) -> list[Message]:
    sent: list[Message] = []
    scope = {} if scope is None else scope
    scope.update(type="http", method=method, path=path, headers=[], query_string=b"")

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(HeadAsGetMiddleware(_app())(scope, receive, send))
    return sent


def test_head_has_gets_status_and_headers_and_no_body() -> None:
    get, head = _call("GET", "/thing"), _call("HEAD", "/thing")
    assert head[0] == get[0]
    assert (get[0]["status"], (b"content-length", b"%d" % len(BODY))) == (200, get[0]["headers"][0])
    assert b"".join(m.get("body", b"") for m in get[1:]) == BODY
    assert [m.get("body", b"") for m in head[1:]] == [b""]


def test_head_is_refused_where_get_is() -> None:
    [start, _] = _call("HEAD", "/command")
    assert start["status"] == 405
    assert (b"allow", b"POST") in start["headers"]


def test_what_wraps_it_sees_the_head_and_the_route_it_took() -> None:
    # Logs, metrics and traces (observability.py) read both once the answer is sent.
    scope: Scope = {}
    _call("HEAD", "/thing", scope)
    assert (scope["method"], scope["route"].path) == ("HEAD", "/thing")
