"""Spans for commands, the event store, and the processes that follow the log.

Only the OpenTelemetry *API* is used here, as a library should: the SDK, sampling and
exporters are chosen by the entrypoints (`paysource.entrypoints.telemetry`). Without
an SDK these calls are no-ops.

A trace crosses the log through the W3C `traceparent` stored in every event's meta:
the worker opens its span for a payment as a child of the request that recorded it,
so one trace runs from the client's POST to the acquirer's answer and the webhook.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache, wraps
from typing import ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

P = ParamSpec("P")
R = TypeVar("R")

TRACER_NAME = "paysource"
# Not the global propagator: events store W3C trace context whatever else is configured.
_W3C = TraceContextTextMapPropagator()


@cache
def _tracer() -> trace.Tracer:
    # A proxy until an SDK is installed, then the SDK's: asked once, not per span (the
    # provider's get_tracer was 2% of a worker's CPU).
    return trace.get_tracer(TRACER_NAME)


def spans_made() -> bool:
    """Whether an SDK makes spans (the entrypoints install one only to export them):
    without one a span is a no-op, and finding its parent is wasted work."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@contextmanager
def span(
    name: str,
    *,
    traceparent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue | None] | None = None,
) -> Iterator[Span]:
    """A span under the current one, or under `traceparent` (a stored or received one)."""
    if not spans_made():
        # The API's no-op span would still parse the traceparent and attach a context,
        # ~5 µs a span, a few a payment. Callers that want the trace fall back to the
        # traceparent they hold (current_traceparent).
        yield trace.INVALID_SPAN
        return
    context = _W3C.extract({"traceparent": traceparent}) if traceparent else None
    present = {key: value for key, value in (attributes or {}).items() if value is not None}
    with _tracer().start_as_current_span(name, context=context, kind=kind, attributes=present) as s:
        yield s


def traced(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated command in a span called `name`."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with span(name):
                return function(*args, **kwargs)

        return run

    return decorate


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, or None when no span is recording."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent")


def new_traceparent() -> str:
    """A fresh, sampled trace context, for when no SDK makes spans: events still get
    a traceparent that joins the request's log lines to the worker's."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
