"""HEAD answered as GET is, without the body (RFC 9110 §9.3.2): status and headers,
Content-Length included, so a monitor, a proxy or a link checker sees what GET would.

FastAPI routes take only the methods they declare, and a route taking HEAD would
appear twice in the OpenAPI document; so a HEAD goes through the app as a GET, with
its authentication, rate limit and problems, and the body is dropped on the way out.
Wherever GET is not taken, HEAD gets GET's 405.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    """Inside our other middleware (all but rest/direct.py's, which takes no HEAD):
    logs, metrics and traces still see the HEAD."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # only the last part is sent: one empty body
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_without_body)
        finally:
            # What routing found (the route, for logs and metrics), under the HEAD.
            scope.update((key, value) for key, value in as_get.items() if key != "method")
