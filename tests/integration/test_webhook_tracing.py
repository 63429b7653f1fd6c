"""A webhook delivery's span continues the trace of the request whose payment it
reports, through the traceparent stored with the event. (Issue 14, item 10.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from paysource.application import tracing
from paysource.bootstrap import Container
from paysource.domain.meta import ActorKind, Meta
from paysource.entrypoints.telemetry import install_tracing
from tests.integration.test_webhook_delivery import Receiver, WebhookWorld, open_world


@pytest.fixture
def spans(container: Container) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    install_tracing(container.settings).add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the provider lives on for the process: stop keeping spans


@pytest.fixture
def world(container: Container) -> Iterator[WebhookWorld]:
    with open_world(container) as opened:
        yield opened


def test_a_delivery_span_joins_the_trace_of_the_request_that_made_the_payment(
    world: WebhookWorld, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver() as receiver:
        world.register(receiver.url)
        with tracing.span("the client's request") as request:
            traceparent = tracing.current_traceparent()
            monkeypatch.setattr(
                world,
                "meta",
                lambda: Meta(ActorKind.MERCHANT, str(world.merchant_id), traceparent=traceparent),
            )
            world.pay()
        world.process()
        world.deliver_until(lambda: len(receiver.delivered()) >= 2)

    deliveries = [s for s in spans.get_finished_spans() if s.name == "webhook deliver"]
    assert len(deliveries) >= 2
    assert {s.context.trace_id for s in deliveries} == {request.get_span_context().trace_id}
    assert all(s.attributes and s.attributes["paysource.succeeded"] for s in deliveries)
