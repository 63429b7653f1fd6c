"""Spans are made only where something exports them (entrypoints/telemetry.py)."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from paysource.config import Mode, Settings
from paysource.entrypoints.telemetry import exports_spans, start_tracing


@pytest.mark.parametrize(
    ("settings", "exported"),
    [
        (Settings(), False),
        (Settings(otlp_endpoint="http://collector:4318/v1/traces"), True),
        (Settings(trace_console=True), True),
        # The console exporter is a development tool: asked for elsewhere, it is ignored
        # (the copy skips the checks that want production secrets).
        (Settings(trace_console=True).model_copy(update={"env": Mode.PRODUCTION}), False),
    ],
)
def test_spans_are_exported_only_when_an_exporter_is_asked_for(
    settings: Settings, exported: bool
) -> None:
    assert exports_spans(settings) is exported


def test_with_nothing_to_export_no_sdk_is_installed() -> None:
    before = trace.get_tracer_provider()
    assert start_tracing(Settings()) is None
    assert trace.get_tracer_provider() is before
