"""Per request: a server span, the log fields every line carries, request metrics and
one access-log line. Plain ASGI, inside `RequestIdMiddleware` (it needs the id) and
outside the others (their 413, 415 and 503 answers are requests too).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paysource import logs
from paysource.application import tracing
from paysource.application.ids import Kind
from paysource.domain.card import redact_pans
from paysource.entrypoints.metrics import Metrics

access_log = logging.getLogger("paysource.access")

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
# Path segments that are our ids (`pay_<32 hex>`): safe to log, they are not input text.
_ID_SEGMENT = re.compile(r"^([a-z]{2,4})_[0-9a-f]{32}$")
_FIELD_OF_PREFIX = {kind.value: kind.name.lower() for kind in Kind}


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        given = _header(scope, b"traceparent")
        given = given if given and _TRACEPARENT.match(given) else None
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before responding

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with (
            logs.scope(request_id=state.get("request_id"), **ids_in_path(scope["path"])),
            _server_span(scope, given) as span,
        ):
            # Every event this request records carries a traceparent, sent or not.
            state["traceparent"] = (
                tracing.current_traceparent() or given or tracing.new_traceparent()
            )
            try:
                await self.app(scope, receive, send_and_note)
            finally:
                self._finish(scope, span, status, time.perf_counter() - started)

    def _finish(self, scope: Scope, span: Span, status: int, seconds: float) -> None:
        method, route = scope["method"], route_of(scope, status)
        # FastAPI's own server span (when we reused it) may have ended already: writing to
        # it then is dropped with a warning per attribute, three log lines per request.
        if span.is_recording():
            span.update_name(f"{method} {route}")
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
        self.metrics.observe_request(method, route, status, seconds)
        fields = {"method": method, "route": route, "status": status}
        access_log.info(
            "%s %s %d %.1fms",
            method,
            route,
            status,
            seconds * 1000,
            extra={"fields": {**fields, "duration_ms": round(seconds * 1000, 1)}},
        )


@contextmanager
def _server_span(scope: Scope, traceparent: str | None) -> Iterator[Span]:
    """The request's server span: FastAPI's own where it makes one (0.165 and later do),
    else ours. One request, one server span."""
    current = trace.get_current_span()
    if current.is_recording():
        _redact_url(current, scope)
        yield current
        return
    name = f"HTTP {scope['method']}"
    with tracing.span(name, traceparent=traceparent, kind=SpanKind.SERVER) as span:
        yield span


def _redact_url(span: Span, scope: Scope) -> None:
    """FastAPI's span holds the raw path and query, where a client may have put a card
    number (`/v1/payments/4111…`, `metadata[order]=4111…`). A span cannot drop an
    attribute, so both are overwritten, card numbers redacted, before the span ends and
    is exported (OpenTelemetry's conventions ask for such scrubbing)."""
    path = scope["path"]
    if (shown := redact_pans(path)) != path:
        span.set_attribute("url.path", shown)
    if scope.get("query_string"):
        # Read as FastAPI reads it: the PAN may be percent-encoded or in a name.
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        redacted = [(redact_pans(name), redact_pans(value)) for name, value in pairs]
        if redacted != pairs:
            span.set_attribute("url.query", urlencode(redacted))


def route_of(scope: Scope, status: int) -> str:
    """The route's template (`/v1/payments/{payment_id}`): one label per route, whatever
    the ids, so the metrics' series stay few. Paths that matched nothing share one."""
    template = getattr(scope.get("route"), "path", None)
    if isinstance(template, str):
        return template
    return "unmatched" if status == 404 else "other"


def ids_in_path(path: str) -> dict[str, str | None]:
    """`/v1/payments/pay_…/refunds` → {"payment": "pay_…"}: the API's ids, as shown."""
    found: dict[str, str | None] = {}
    for segment in path.split("/"):
        match = _ID_SEGMENT.match(segment)
        if match:
            found[_FIELD_OF_PREFIX.get(match.group(1), match.group(1))] = segment
    return found


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
