"""Webhook delivery against a real receiver on 127.0.0.1: retries with backoff, valid
signatures, per-object order, recorded attempts, disabling, leases, SSRF at send time.

The helpers here (Receiver, WebhookWorld, webhook_settings) are shared by the other
webhook tests.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import pytest

from paysource.adapters.postgres.webhook_queue import DeliveryQueue
from paysource.application import representations as rep
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.idempotency import fingerprint
from paysource.application.payments import NewPayment
from paysource.application.webhooks.queue import Claimed
from paysource.application.webhooks.settings import WebhookSettings
from paysource.bootstrap import Container, Webhooks
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment
from paysource.domain.webhook_endpoint import EndpointStatus, WebhookEndpoint
from paysource.webhook_signature import verify
from tests.helpers import drain

SIGNING_KEY = "test-webhook-signing-key-0123456789abcdef"


def webhook_settings(**overrides: Any) -> WebhookSettings:
    """Short backoffs, local receivers allowed."""
    values: dict[str, Any] = {
        "signing_key": SIGNING_KEY,
        "allow_private_networks": True,
        "retry_base_delay_s": 0.05,
        "retry_max_delay_s": 0.2,
        "poll_interval_s": 0.02,
        "lease_s": 5.0,
        "connect_timeout_s": 1.0,
        "read_timeout_s": 2.0,
        "delivery_lanes": 2,
    }
    return WebhookSettings(**{**values, **overrides})


# A receiver -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


Decide = Callable[[dict[str, str], bytes], int]


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request; `decide` picks the answer."""

    def __init__(self, decide: Decide | None = None, *, delay_s: float = 0.0) -> None:
        self.decide: Decide = decide or (lambda headers, body: 200)
        self.delay_s = delay_s
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                time.sleep(receiver.delay_s)
                if len(body) < length:
                    return  # the sender died mid-body (kill -9): nothing was received
                with receiver.lock:
                    status = receiver.decide(headers, body)
                    receiver.requests.append(Received(headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]


class Tarpit:
    """A receiver that reads the request, then sends its answer's status line and an
    endless header `chunk` by `chunk`, one every `interval_s`: every read of the
    client gets something, so per-read timeouts never fire, and the answer never ends.
    It keeps sending until the client hangs up; `durations` are how long each took."""

    def __init__(self, *, interval_s: float = 0.2, chunk: bytes = b"a") -> None:
        self.interval_s = interval_s
        self.chunk = chunk
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.durations: list[float] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with self.lock:
            self.connections += 1
            self.open += 1
            self.max_open = max(self.max_open, self.open)
        started = time.monotonic()
        try:
            conn.settimeout(0.5)
            with suppress(OSError):
                conn.recv(1 << 20)  # the request (what of it has arrived)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Tarpit: ")
            while not self.stopping.is_set():
                conn.sendall(self.chunk)
                time.sleep(self.interval_s)
        except OSError:
            pass  # the client hung up
        finally:
            conn.close()
            with self.lock:
                self.open -= 1
                self.durations.append(time.monotonic() - started)

    def __enter__(self) -> Tarpit:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.server.close()
        self.thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks?token=tarpit"


def fail_first(count: int, status: int = 500) -> Decide:
    seen = [0]

    def decide(headers: dict[str, str], body: bytes) -> int:
        seen[0] += 1
        return status if seen[0] <= count else 200

    return decide


# A merchant with payments and webhooks --------------------------------------------------


@dataclass
class WebhookWorld:
    container: Container
    webhooks: Webhooks
    merchant_id: UUID
    keys: list[str] = field(default_factory=list)

    @property
    def cell(self) -> Any:
        return self.container.router.for_merchant(self.merchant_id)

    def meta(self) -> Meta:
        return Meta(ActorKind.MERCHANT, str(self.merchant_id))

    def register(self, url: str, events: list[str] | None = None) -> tuple[UUID, str]:
        outcome, secret = self.webhooks.for_cell(self.cell).endpoints.register(
            merchant_id=self.merchant_id,
            url=url,
            events=events or ["*"],
            description=None,
            idempotency_key=None,
            request_hash="h",
            meta=self.meta(),
        )
        return outcome.value.id, secret

    def pay(self, *, amount: int = 1000, token: str = "tok_visa", manual: bool = False) -> UUID:
        key = f"pay-{len(self.keys)}"
        self.keys.append(key)
        return self.cell.payments.create_payment(  # type: ignore[no-any-return]
            NewPayment(
                merchant_id=self.merchant_id,
                idempotency_key=key,
                request_hash=fingerprint("POST", "/v1/payments", {"key": key}),
                amount=Money(amount, "USD"),
                source=token,
                capture_method=CaptureMethod.MANUAL if manual else CaptureMethod.AUTOMATIC,
                meta=self.meta(),
            )
        ).value.id

    def outbox(self) -> None:
        follower = Follower(self.cell.store, self.webhooks.outbox(self.cell), wakeup=Wakeup())
        run_until_caught_up(follower)

    def process(self) -> None:
        """Run the payment pipeline, then the outbox, until the log is still."""
        drain(self.container)
        self.outbox()

    def deliver_until(self, done: Callable[[], bool], *, timeout_s: float = 20.0) -> None:
        worker = self.webhooks.delivery_worker(self.cell)
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, "deliveries did not finish in time"
            if not worker.step("test-lane"):
                time.sleep(0.02)

    def deliveries(self) -> list[dict[str, Any]]:
        with self.webhooks.for_cell(self.cell).queue.datastore.cursor() as curs:
            return curs.execute("SELECT * FROM webhook_deliveries ORDER BY seq").fetchall()

    def attempts(self) -> list[dict[str, Any]]:
        with self.webhooks.for_cell(self.cell).queue.datastore.cursor() as curs:
            return curs.execute("SELECT * FROM webhook_attempts ORDER BY id").fetchall()


def new_merchant(container: Container, name: str = "Acme") -> UUID:
    outcome, _ = container.merchants.register_merchant(
        name=name,
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        idempotency_key=None,
        request_hash=name,
        meta=Meta(ActorKind.ADMIN, "test"),
    )
    return outcome.value.id


@contextmanager
def open_world(container: Container, **settings: Any) -> Iterator[WebhookWorld]:
    webhooks = Webhooks(container, webhook_settings(**settings))
    try:
        yield WebhookWorld(container, webhooks, new_merchant(container))
    finally:
        webhooks.close()


@pytest.fixture
def world(container: Container) -> Iterator[WebhookWorld]:
    with open_world(container) as opened:
        yield opened


MakeWorld = Callable[..., WebhookWorld]


@pytest.fixture
def make_world(container: Container) -> Iterator[MakeWorld]:
    """Worlds with other webhook settings (closed at teardown)."""
    made: list[Webhooks] = []

    def make(resolver: Any = None, **settings: Any) -> WebhookWorld:
        extra = {} if resolver is None else {"resolver": resolver}
        webhooks = Webhooks(container, webhook_settings(**settings), **extra)
        made.append(webhooks)
        return WebhookWorld(container, webhooks, new_merchant(container, f"M{len(made)}"))

    yield make
    for webhooks in made:
        webhooks.close()


# Tests ----------------------------------------------------------------------------------


def test_a_receiver_failing_its_first_attempts_gets_the_event_after_retries_signed(
    world: WebhookWorld,
) -> None:
    with Receiver(fail_first(3)) as receiver:
        _, secret = world.register(receiver.url, ["payment.succeeded"])
        payment_id = world.pay()
        world.process()
        world.deliver_until(lambda: len(receiver.delivered()) == 1)

    assert [r.status for r in receiver.requests] == [500, 500, 500, 200]
    final = receiver.delivered()[0]
    event = verify(final.body, final.headers["paysource-signature"], secret)
    # The payment as its Captured event left it (CaptureConfirmed follows it, unmapped).
    [captured] = [e for e in world.cell.store.history(payment_id) if type(e) is Payment.Captured]
    payment = world.cell.store.get(payment_id, Payment, version=captured.originator_version)
    assert event["type"] == "payment.succeeded"
    assert event["object_version"] == payment.version
    assert event["data"]["object"] == rep.payment(payment)
    assert final.headers["paysource-event-id"] == event["id"]
    assert {r.event["id"] for r in receiver.requests} == {event["id"]}, "one event, retried"
    [delivery] = world.deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 4)


def test_each_attempt_is_recorded_with_status_code_latency_and_error(
    world: WebhookWorld,
) -> None:
    with Receiver(fail_first(1, status=503)) as receiver:
        world.register(receiver.url, ["payment.created"])
        world.pay()
        world.process()
        world.deliver_until(lambda: len(receiver.delivered()) == 1)

    attempts = world.attempts()
    assert [(a["status_code"], a["succeeded"], a["trigger"]) for a in attempts] == [
        (503, False, "automatic"),
        (200, True, "automatic"),
    ]
    assert all(a["latency_ms"] >= 0 for a in attempts)
    assert attempts[0]["error"] is None  # an answer is not an error: its status says it all


def test_an_answer_outside_http_statuses_is_an_error_and_retried(world: WebhookWorld) -> None:
    # h11 takes any three digits; the attempts table takes 100-599. Recorded as a status,
    # 999 failed the attempt's insert, so the delivery was sent again and again, never
    # recorded, never failed.
    with Receiver(fail_first(1, status=999)) as receiver:
        world.register(receiver.url, ["payment.created"])
        world.pay()
        world.process()
        world.deliver_until(lambda: len(receiver.delivered()) == 1)

    attempts = world.attempts()
    assert [(a["status_code"], a["succeeded"]) for a in attempts] == [(None, False), (200, True)]
    assert attempts[0]["error"] == "invalid HTTP status 999"


def test_timeouts_and_refused_connections_are_recorded_as_errors(
    make_world: MakeWorld,
) -> None:
    world = make_world(read_timeout_s=0.3, max_attempts=2)
    with Receiver(delay_s=1.0) as slow:
        world.register(slow.url, ["payment.created"])
        world.register("http://127.0.0.1:9/closed", ["payment.created"])
        world.pay()
        world.process()
        world.deliver_until(lambda: all(d["status"] == "failed" for d in world.deliveries()))

    errors = sorted(a["error"] for a in world.attempts())
    assert len(errors) == 4
    assert sum("timeout" in e for e in errors) == 2
    assert sum("ConnectError" in e for e in errors) == 2
    assert all(a["status_code"] is None for a in world.attempts())


def test_events_of_one_payment_arrive_in_order_with_increasing_versions(
    world: WebhookWorld,
) -> None:
    # Every third request fails: retries must not let a later version overtake.
    counter = [0]

    def flaky(headers: dict[str, str], body: bytes) -> int:
        counter[0] += 1
        return 500 if counter[0] % 3 == 0 else 200

    with Receiver(flaky) as receiver:
        world.register(receiver.url, ["*"])
        payments = [world.pay(manual=True) for _ in range(3)]
        world.process()
        for payment_id in payments[:2]:
            world.cell.payments.capture_payment(
                merchant_id=world.merchant_id,
                payment_id=payment_id,
                amount=None,
                idempotency_key=None,
                request_hash="c",
                meta=world.meta(),
            )
        world.process()
        expected = len(world.deliveries())
        world.deliver_until(lambda: len(receiver.delivered()) == expected)

    for payment_id in payments:
        assert_delivered_in_version_order(receiver.requests, f"pay_{payment_id.hex}")


def assert_delivered_in_version_order(requests: list[Received], object_id: str) -> None:
    """No request for version n+1 before version n was delivered; versions increase."""
    mine = [r for r in requests if r.event["data"]["object"]["id"] == object_id]
    versions = sorted({r.event["object_version"] for r in mine})
    assert len(versions) >= 2, f"{object_id}: several state changes"
    delivered: set[int] = set()
    for request in mine:
        version = request.event["object_version"]
        assert {v for v in versions if v < version} <= delivered, (object_id, version)
        if request.status == 200:
            delivered.add(version)
    assert delivered == set(versions)


def test_a_version_given_up_on_no_longer_holds_back_the_next(make_world: MakeWorld) -> None:
    world = make_world(max_attempts=2)

    def refuse_created(headers: dict[str, str], body: bytes) -> int:
        return 500 if json.loads(body)["type"] == "payment.created" else 200

    with Receiver(refuse_created) as receiver:
        world.register(receiver.url, ["payment.created", "payment.succeeded"])
        world.pay()
        world.process()
        world.deliver_until(lambda: len(receiver.delivered()) == 1)

    assert [r.event["type"] for r in receiver.requests] == [
        "payment.created",
        "payment.created",
        "payment.succeeded",
    ]
    assert [d["status"] for d in world.deliveries()] == ["failed", "succeeded"]


def test_an_endpoint_failing_for_long_is_disabled_reported_and_can_be_enabled_again(
    make_world: MakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(disable_after=timedelta(0), disable_min_failures=3)
    service = world.webhooks.for_cell(world.cell).endpoints
    with Receiver(lambda h, b: 500) as receiver, caplog.at_level(logging.WARNING):
        endpoint_id, _ = world.register(receiver.url, ["payment.created"])
        world.pay()
        world.process()
        world.deliver_until(lambda: len(receiver.requests) >= 3)
        world.outbox()  # the Disabled event reaches the endpoints table
        requests_when_disabled = len(receiver.requests)
        time.sleep(0.3)
        worker = world.webhooks.delivery_worker(world.cell)
        assert worker.step("lane") == 0, "a disabled endpoint is not attempted"

        endpoint = service.get(merchant_id=world.merchant_id, endpoint_id=endpoint_id)
        assert endpoint.status is EndpointStatus.DISABLED
        assert "every delivery attempt failed" in (endpoint.disabled_reason or "")
        assert any("disabled" in r.getMessage() for r in caplog.records)

        receiver.decide = lambda h, b: 200
        service.enable(
            merchant_id=world.merchant_id,
            endpoint_id=endpoint_id,
            idempotency_key=None,
            request_hash="",
            meta=world.meta(),
        )
        world.outbox()
        world.deliver_until(lambda: len(receiver.delivered()) == 1)

    assert requests_when_disabled == 3
    assert world.deliveries()[0]["status"] == "succeeded"


def test_a_delivery_leased_by_a_dead_worker_is_sent_once_its_lease_runs_out(
    world: WebhookWorld,
) -> None:
    queue = world.webhooks.for_cell(world.cell).queue
    with Receiver() as receiver:
        world.register(receiver.url, ["payment.created"])
        world.pay()
        world.process()
        [held] = queue.claim(worker="dead-worker", limit=10, lease_s=0.5)
        assert queue.claim(worker="other", limit=10, lease_s=5) == []

        world.deliver_until(lambda: len(receiver.delivered()) == 1)

    assert receiver.delivered()[0].headers["paysource-delivery-id"] == f"whd_{held.id.hex}"


def test_concurrent_claims_take_one_delivery_per_endpoint_and_a_few_per_merchant(
    container: Container, world: WebhookWorld
) -> None:
    other = WebhookWorld(container, world.webhooks, new_merchant(container, "Other"))
    for number in range(3):
        world.register(f"http://127.0.0.1:9/a{number}", ["*"])
    other.register("http://127.0.0.1:9/b", ["*"])
    for _ in range(5):
        world.pay()
        other.pay()
    world.process()
    queues = [DeliveryQueue(world.webhooks.for_cell(world.cell).queue.datastore) for _ in range(4)]
    claimed: list[list[Claimed]] = [[] for _ in queues]
    barrier = threading.Barrier(len(queues))

    def claim(number: int) -> None:
        barrier.wait()
        while batch := queues[number].claim(
            worker=f"lane-{number}", limit=2, lease_s=30, per_merchant=2
        ):
            claimed[number] += batch

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(queues))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [d for batch in claimed for d in batch]
    assert len(everything) == len({d.id for d in everything})
    endpoints = [d.endpoint_id for d in everything]
    assert len(endpoints) == len(set(endpoints)), "one attempt in flight per endpoint"
    per_merchant = Counter(d.merchant_id for d in everything)
    assert per_merchant == {world.merchant_id: 2, other.merchant_id: 1}


def test_a_claim_walks_past_a_busy_endpoints_backlog(world: WebhookWorld) -> None:
    queue = world.webhooks.for_cell(world.cell).queue
    busy, _ = world.register("http://127.0.0.1:9/busy", ["*"])
    for _ in range(20):
        world.pay()
    world.process()
    [held] = queue.claim(worker="slow-lane", limit=5, lease_s=30)
    free, _ = world.register("http://127.0.0.1:9/free", ["payment.created"])
    world.pay()
    world.process()

    [next_one] = queue.claim(worker="lane", limit=5, lease_s=30, per_merchant=5)

    assert held.endpoint_id == busy
    assert next_one.endpoint_id == free, "the busy endpoint's 20 due deliveries wait"


def test_a_host_that_resolves_elsewhere_at_delivery_time_is_refused_then(
    make_world: MakeWorld,
) -> None:
    answers = {"hooks.example.com": ["93.184.216.34"]}
    world = make_world(
        resolver=lambda host, port: answers[host], allow_private_networks=False, max_attempts=1
    )
    with Receiver() as receiver:
        world.register("http://hooks.example.com/in", ["payment.created"])
        answers["hooks.example.com"] = ["127.0.0.1"]  # DNS rebinding
        world.pay()
        world.process()
        world.deliver_until(lambda: world.deliveries()[0]["status"] == "failed")

    assert receiver.requests == []
    [attempt] = world.attempts()
    assert attempt["error"].startswith("refused:")
    assert "does not resolve to public addresses only" in attempt["error"]


def test_a_deleted_endpoint_is_sent_nothing_more(world: WebhookWorld) -> None:
    endpoint_id, _ = world.register("http://127.0.0.1:9/never", ["*"])
    world.pay()
    world.process()
    world.webhooks.for_cell(world.cell).endpoints.delete(
        merchant_id=world.merchant_id, endpoint_id=endpoint_id, meta=world.meta()
    )
    world.process()

    assert world.deliveries()
    assert {d["status"] for d in world.deliveries()} == {"canceled"}
    assert world.webhooks.delivery_worker(world.cell).step("lane") == 0
    assert world.cell.store.get(endpoint_id, WebhookEndpoint).status is EndpointStatus.DELETED


# Slow receivers ---------------------------------------------------------------------------


def test_a_receiver_dribbling_its_answer_is_cut_off_at_the_attempt_deadline(
    make_world: MakeWorld,
) -> None:
    # Every read gets a byte within 0.2 s, under the 0.5 s read timeout: only the
    # attempt's deadline (connect + read timeout = 1 s) can end it.
    world = make_world(connect_timeout_s=0.5, read_timeout_s=0.5, max_attempts=1)
    with Tarpit(interval_s=0.2) as tarpit:
        world.register(tarpit.url, ["payment.created"])
        world.pay()
        world.process()
        started = time.monotonic()
        world.deliver_until(lambda: world.deliveries()[0]["status"] == "failed")
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 2
        while tarpit.open and time.monotonic() < deadline:
            time.sleep(0.02)

    [attempt] = world.attempts()
    assert attempt["status_code"] is None
    assert attempt["error"] == "timeout: no answer within 1 s"
    assert 950 <= attempt["latency_ms"] < 1500
    assert elapsed < 2.0
    assert tarpit.connections == 1
    assert tarpit.durations[0] < 2.0, "the connection was closed at the deadline"


def test_a_receiver_flooding_its_headers_is_cut_off_after_100_kib(
    make_world: MakeWorld,
) -> None:
    world = make_world(max_attempts=1)
    with Tarpit(interval_s=0.001, chunk=b"a" * 8192) as flood:
        world.register(flood.url, ["payment.created"])
        world.pay()
        world.process()
        world.deliver_until(lambda: world.deliveries()[0]["status"] == "failed")

    [attempt] = world.attempts()
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("RemoteProtocolError")
    assert attempt["latency_ms"] < 1000, "not read until the deadline"


@pytest.mark.parametrize(
    ("tarpit_endpoints", "lanes", "tarpit_lanes"),
    [
        (1, 2, 1),  # one endpoint: one attempt in flight, however many deliveries
        (3, 3, 2),  # one merchant: at most max_in_flight_per_merchant (2)
    ],
)
def test_a_tarpit_endpoint_holds_few_lanes_and_other_merchants_webhooks_arrive_promptly(
    container: Container,
    make_world: MakeWorld,
    tarpit_endpoints: int,
    lanes: int,
    tarpit_lanes: int,
) -> None:
    slow = make_world(
        connect_timeout_s=0.5, read_timeout_s=2.0, delivery_lanes=lanes, retry_base_delay_s=0.01
    )
    other = WebhookWorld(container, slow.webhooks, new_merchant(container, "Other"))
    stop = threading.Event()
    worker = slow.webhooks.delivery_worker(slow.cell)
    lanes_thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    with Tarpit(interval_s=0.2) as tarpit, Receiver() as receiver:
        for number in range(tarpit_endpoints):
            slow.register(f"{tarpit.url}&n={number}", ["payment.created"])
        for _ in range(6):
            slow.pay()
        slow.process()
        other.register(receiver.url, ["payment.created"])
        lanes_thread.start()
        try:
            wait_for(lambda: tarpit.open == tarpit_lanes, timeout_s=5)
            other.pay()
            other.process()
            queued = time.monotonic()
            wait_for(lambda: len(receiver.delivered()) == 1, timeout_s=10)
            waited = time.monotonic() - queued
        finally:
            stop.set()
            lanes_thread.join(timeout=10)

    assert waited < 1.0, f"another merchant's webhook waited {waited:.1f} s (deadline 2.5 s)"
    assert tarpit.max_open == tarpit_lanes


def wait_for(condition: Callable[[], bool], *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_webhook_urls_are_not_logged(world: WebhookWorld, caplog: pytest.LogCaptureFixture) -> None:
    # A receiver's URL may carry its own secret; httpx logs every request's URL at INFO.
    with Receiver(fail_first(1)) as receiver, caplog.at_level(logging.DEBUG):
        world.register(f"{receiver.url}?token=receiver-secret", ["payment.created"])
        world.pay()
        world.process()
        world.deliver_until(lambda: len(receiver.delivered()) == 1)
        logging.getLogger("httpx").info("HTTP Request: %s", "another client's")

    assert not [r for r in caplog.records if "receiver-secret" in r.getMessage()]
    assert not [r for r in caplog.records if "/hooks" in r.getMessage()]
    assert [r for r in caplog.records if r.name == "httpx"], "other clients' logs are kept"
