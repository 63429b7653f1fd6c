"""The OpenTelemetry SDK for this process, installed only when its spans are exported.

Export goes over OTLP/HTTP when `PAYSOURCE_OTLP_ENDPOINT` is set, and to the console in
development when `PAYSOURCE_TRACE_CONSOLE=true`. With neither, no SDK is installed and
spans are the API's no-ops; events still carry a `traceparent` (the client's, or a
fresh one), so a trace is followed through the log either way (docs/observability.md).
A process has one tracer provider: the first caller installs it, later callers (the API
and a worker in one process, tests) share it.
"""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from paysource.config import Settings

_lock = threading.Lock()


def start_tracing(settings: Settings) -> TracerProvider | None:
    """The SDK for a process whose spans go somewhere, else None: with no provider the
    OpenTelemetry API's spans are no-ops and FastAPI skips its own telemetry: spans
    nobody reads cost 10-18% of the API's CPU per payment (bench/README.md). Events
    get their traceparent either way (observability.py)."""
    return install_tracing(settings) if exports_spans(settings) else None


def exports_spans(settings: Settings) -> bool:
    return bool(settings.otlp_endpoint) or (settings.trace_console and settings.development)


def install_tracing(settings: Settings) -> TracerProvider:
    """The process's SDK tracer provider, installed on the first call (tests install it
    to collect spans in memory)."""
    with _lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return current
        provider = TracerProvider(resource=Resource.create({"service.name": "paysource"}))
        if settings.otlp_endpoint:
            provider.add_span_processor(BatchSpanProcessor(_otlp(settings.otlp_endpoint)))
        if settings.trace_console and settings.development:
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        trace.set_tracer_provider(provider)
        return provider


def _otlp(endpoint: str) -> SpanExporter:
    # Imported only when used: the exporter pulls in protobuf and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    return OTLPSpanExporter(endpoint=endpoint)
