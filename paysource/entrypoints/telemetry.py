"""The OpenTelemetry SDK for this process: spans always made, exported only when asked.

Spans are made even with no exporter, because each request's span gives the events it
records their `traceparent` (docs/observability.md). Export goes over OTLP/HTTP when
`PAYSOURCE_OTLP_ENDPOINT` is set, and to the console in development when
`PAYSOURCE_TRACE_CONSOLE=true`. A process has one tracer provider: the first caller
installs it, later callers (the API and a worker in one process, tests) share it.
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


def install_tracing(settings: Settings) -> TracerProvider:
    """The process's SDK tracer provider, installed on the first call."""
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
