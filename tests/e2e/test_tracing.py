"""One trace from a client's POST to the worker's processing of that payment, linked
through the traceparent stored in every event's meta. (Issue 14, item 10.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devtools.localservices import free_port
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.entrypoints.telemetry import install_tracing
from tests.conftest import ADMIN_KEY
from tests.e2e.test_serve_processes import serving_processes
from tests.helpers import Api, admin, drain, new_key

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@pytest.fixture
def spans(container: Container) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    install_tracing(container.settings).add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the provider lives on for the process: stop keeping spans


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


def stored_meta(container: Container, payment_id: str) -> list[dict[str, str]]:
    store = container.router.all()[0].store
    return [event.meta for event in store.history(UUID(hex=payment_id.removeprefix("pay_")))]  # type: ignore[attr-defined]


def one_trace(spans: tuple[ReadableSpan, ...], trace_id: int) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans if span.context.trace_id == trace_id}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def ancestors(span: ReadableSpan, trace: dict[str, ReadableSpan]) -> list[str]:
    """Names of the spans above `span`, nearest first (frameworks may add their own)."""
    by_id = {s.context.span_id: s for s in trace.values()}
    found, parent = [], by_id.get(parent_of(span) or 0)
    while parent is not None:
        found.append(parent.name)
        parent = by_id.get(parent_of(parent) or 0)
    return found


def request_span(spans: InMemorySpanExporter) -> ReadableSpan:
    """The request's outermost span (FastAPI may open its own spans inside it)."""
    finished = spans.get_finished_spans()
    ids = {s.context.span_id for s in finished}
    return next(
        s
        for s in finished
        if s.name == "POST /v1/payments" and s.kind is SpanKind.SERVER and parent_of(s) not in ids
    )


def test_the_post_the_command_the_database_and_the_workers_processing_share_one_trace(
    merchant: Api, container: Container, spans: InMemorySpanExporter
) -> None:
    payment_id = merchant.pay(1500).json()["id"]
    drain(container)

    http = request_span(spans)
    trace = one_trace(spans.get_finished_spans(), http.context.trace_id)

    assert http.attributes is not None
    assert http.attributes["http.route"] == "/v1/payments"
    assert http.attributes["http.response.status_code"] == 202
    command = trace["command create_payment"]
    assert http.name in ancestors(command, trace)
    assert ancestors(trace["db append_events"], trace)[0] == "command create_payment"
    worker = trace["process Payment.Created"]
    assert worker.attributes is not None
    assert worker.attributes["paysource.payment"] == payment_id
    assert parent_of(worker) == http.context.span_id


def test_every_event_gets_a_traceparent_even_when_the_client_sends_none(
    merchant: Api, container: Container, spans: InMemorySpanExporter
) -> None:
    payment_id = merchant.pay(1500).json()["id"]
    drain(container)

    metas = stored_meta(container, payment_id)

    assert len(metas) >= 3  # created, risk assessed, authorized, …
    trace_ids = {meta["traceparent"].split("-")[1] for meta in metas}
    http = request_span(spans)
    assert trace_ids == {f"{http.context.trace_id:032x}"}


def test_a_client_trace_context_is_continued(
    merchant: Api, container: Container, spans: InMemorySpanExporter
) -> None:
    sent = f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"

    body = {"amount": 1500, "currency": "USD", "source": "tok_visa"}
    answer = merchant.post("/v1/payments", body, Idempotency_Key=new_key(), traceparent=sent)
    payment_id = answer.json()["id"]

    http = request_span(spans)
    assert f"{http.context.trace_id:032x}" == CLIENT_TRACE
    assert parent_of(http) == int("00f067aa0ba902b7", 16)
    assert stored_meta(container, payment_id)[0]["traceparent"].split("-")[1] == CLIENT_TRACE


PAN = "4111111111111111"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"/v1/payments/{PAN}", {}),
        ("/v1/payments", {"metadata[order]": PAN}),
        ("/v1/payments", {f"metadata[{PAN}]": "x"}),
    ],
)
def test_no_span_carries_a_card_number_sent_in_the_path_or_query(
    merchant: Api, spans: InMemorySpanExporter, path: str, params: dict[str, str]
) -> None:
    merchant.get(path, **params)

    finished = spans.get_finished_spans()
    assert any(s.kind is SpanKind.SERVER for s in finished)
    for span in finished:
        assert PAN not in span.name
        for key, value in (span.attributes or {}).items():
            assert PAN not in str(value), f"{span.name}: {key}={value!r}"


def test_a_server_with_nothing_to_export_makes_no_spans_yet_every_event_keeps_the_trace(
    settings: Settings, container: Container
) -> None:
    """`paysource serve` with no exporter installs no SDK (entrypoints/telemetry.py): the
    client's traceparent is stored as sent, with no server span between, and a request
    without one still gets a fresh one. Run as its own process: tests in this one may
    have installed an SDK for good."""
    port = free_port()
    sent = f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"
    with serving_processes(settings, port, 1):
        base = f"http://127.0.0.1:{port}"
        made = httpx.post(
            f"{base}/v1/merchants",
            json={"name": "Traces Ltd"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=30,
        )
        key = made.json()["api_key"]
        paid = [
            httpx.post(
                f"{base}/v1/payments",
                json={"amount": 1500, "currency": "USD", "source": "tok_visa"},
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": new_key(), **extra},
                timeout=30,
            ).json()["id"]
            for extra in ({"traceparent": sent}, {})
        ]

    continued, fresh = (stored_meta(container, payment)[0]["traceparent"] for payment in paid)
    assert continued == sent
    assert TRACEPARENT.fullmatch(fresh)
    assert CLIENT_TRACE not in fresh
