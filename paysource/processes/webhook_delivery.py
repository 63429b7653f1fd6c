"""Delivering webhooks: sign, POST, record the attempt, retry with backoff for 3 days.

    pending ──2xx──▶ succeeded
       ├──failure──▶ pending, next attempt after an exponential, jittered delay
       └──failure once the budget (3 days) or max attempts is spent──▶ failed

At-least-once: a delivery is marked succeeded only after its 2xx, so a worker killed
between the POST and the record sends it again after the lease runs out (receivers
de-duplicate by event id and drop stale versions by `object_version`). An endpoint
that has failed every attempt for `DisablePolicy.after` is disabled and logged.

Lanes share the deliveries of every merchant: the queue hands out at most one
delivery per endpoint at a time and a few per merchant (`per_merchant`), and each
attempt ends at its deadline, so a slow receiver holds one lane for one deadline.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from opentelemetry.trace import SpanKind

from paysource import logs
from paysource.application import tracing
from paysource.application.errors import Unavailable
from paysource.application.eventlog import EventStore
from paysource.application.ids import Kind, encode
from paysource.application.ports import AttemptResult, DeliveryQueue, WebhookTransport
from paysource.application.webhooks.catalog import EVENT_ID_PREFIX
from paysource.application.webhooks.endpoints import SecretKeys, WebhookEndpointService
from paysource.application.webhooks.queue import (
    DEFAULT_PER_MERCHANT,
    DELIVERY_ID_PREFIX,
    Claimed,
    DisablePolicy,
    RetrySchedule,
    Verdict,
)
from paysource.domain.meta import Meta
from paysource.webhook_signature import SCHEME, SIGNATURE_HEADER, signature

log = logging.getLogger(__name__)


@dataclass
class Deliverer:
    queue: DeliveryQueue
    transport: WebhookTransport
    endpoints: WebhookEndpointService
    keys: SecretKeys
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    disable: DisablePolicy = field(default_factory=DisablePolicy)
    # After a rotation the previous secret also signs for this long, so receivers can
    # switch secrets without dropping deliveries.
    rotation_overlap: timedelta = timedelta(hours=24)
    rng: random.Random = field(default_factory=random.Random)
    # (object id, version) → the traceparent stored with that event, if any.
    trace_of: Callable[[UUID, int], str | None] | None = None

    def deliver(self, claimed: Claimed, *, worker: str) -> AttemptResult:
        """Attempt a claimed delivery once: automatic, or manual for a resend."""
        delivery_id = f"{DELIVERY_ID_PREFIX}_{claimed.id.hex}"
        with (
            logs.scope(merchant=encode(Kind.MERCHANT, claimed.merchant_id), delivery=delivery_id),
            tracing.span(
                "webhook deliver",
                traceparent=self._traceparent(claimed),
                kind=SpanKind.CLIENT,
                attributes={
                    "paysource.delivery": delivery_id,
                    "paysource.event_type": claimed.event_type,
                },
            ) as span,
        ):
            result = self._attempt(claimed, worker)
            span.set_attribute("paysource.succeeded", result.succeeded)
            return result

    def _traceparent(self, claimed: Claimed) -> str | None:
        # The stored traceparent only parents the delivery's span: no read without one.
        if self.trace_of is None or claimed.object_id is None or not tracing.spans_made():
            return None
        try:
            return self.trace_of(claimed.object_id, claimed.object_version)
        except Unavailable:
            return None  # a trace is not worth failing a delivery for

    def _attempt(self, claimed: Claimed, worker: str) -> AttemptResult:
        body = claimed.payload.encode()
        result = self.transport.post(claimed.url, body, self.headers(claimed, body))
        verdict = self._verdict(claimed, result)
        trigger = claimed.trigger
        if not self.queue.record(claimed, result, verdict, worker=worker, trigger=trigger):
            delivery_id = f"{DELIVERY_ID_PREFIX}_{claimed.id.hex}"
            log.warning("webhook delivery %s: lease lost during the attempt", delivery_id)
        self._track_health(claimed, result)
        return result

    def headers(self, claimed: Claimed, body: bytes) -> dict[str, str]:
        moment = int(time.time())
        values = ",".join(f"{SCHEME}={signature(body, s, moment)}" for s in self._secrets(claimed))
        return {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: f"t={moment},{values}",
            "Paysource-Event-Id": f"{EVENT_ID_PREFIX}_{claimed.event_id.hex}",
            "Paysource-Event-Type": claimed.event_type,
            "Paysource-Delivery-Id": f"{DELIVERY_ID_PREFIX}_{claimed.id.hex}",
        }

    def _secrets(self, claimed: Claimed) -> list[str]:
        generation = claimed.secret_generation
        found = [self.keys.secret_for(claimed.endpoint_id, generation)]
        rotated = claimed.secret_rotated_at
        if generation > 1 and rotated and datetime.now(UTC) - rotated < self.rotation_overlap:
            found.append(self.keys.secret_for(claimed.endpoint_id, generation - 1))
        return found

    def _verdict(self, claimed: Claimed, result: AttemptResult) -> Verdict:
        if result.succeeded:
            return Verdict("succeeded")
        if claimed.status != "pending":
            return Verdict(claimed.status)  # a failed resend leaves a finished delivery be
        return self.schedule.verdict(
            failures=claimed.attempts + 1,
            enqueued_at=claimed.enqueued_at,
            now=self.queue.now(),
            rng=self.rng,
        )

    def _track_health(self, claimed: Claimed, result: AttemptResult) -> None:
        health = self.queue.record_health(
            claimed.endpoint_id, succeeded=result.succeeded, disable_after=self.disable.after
        )
        if (
            health.enabled
            and health.failing_longer_than_allowed
            and health.consecutive_failures >= self.disable.min_failures
        ):
            reason = (
                f"every delivery attempt failed since {health.failing_since:%Y-%m-%d %H:%M} UTC"
                f" ({health.consecutive_failures} attempts; last: {result.summary})"
            )
            self.endpoints.disable(
                claimed.endpoint_id, reason=reason, meta=Meta.system("webhook-delivery")
            )


class DeliveryWorker:
    """Runs delivery lanes until stopped: each lane claims due deliveries (one at a
    time by default: a batch's later deliveries would wait behind a slow first one)
    and attempts them. One endpoint never has two attempts in flight, nor one
    merchant more than `per_merchant`, so a slow receiver holds up only its lane."""

    def __init__(
        self,
        queue: DeliveryQueue,
        deliverer: Deliverer,
        *,
        lanes: int = 4,
        batch_size: int = 1,
        lease_s: float = 60.0,
        poll_interval_s: float = 0.5,
        per_merchant: int = DEFAULT_PER_MERCHANT,
    ) -> None:
        assert lanes >= 1, "at least one lane"
        assert batch_size >= 1, "claim at least one delivery"
        assert per_merchant >= 1, "a merchant may have an attempt in flight"
        self.queue = queue
        self.deliverer = deliverer
        self.lanes = lanes
        self.batch_size = batch_size
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.per_merchant = per_merchant
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"

    def run(self, stop: threading.Event) -> None:
        threads = [
            threading.Thread(target=self._lane, args=(f"{self.worker_id}/{n}", stop), daemon=True)
            for n in range(self.lanes)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _lane(self, lane: str, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                worked = self.step(lane, stop)
                failures = 0
            except Exception:
                failures += 1
                log.exception("webhook delivery lane %s failed; retrying", lane)
                stop.wait(min(10.0, 0.1 * 2 ** min(failures, 7)))
                continue
            if not worked:
                stop.wait(self.poll_interval_s)

    def step(self, lane: str, stop: threading.Event | None = None) -> int:
        """Claim and attempt up to `batch_size` due deliveries; return how many."""
        claimed = self.queue.claim(
            worker=lane,
            limit=self.batch_size,
            lease_s=self.lease_s,
            per_merchant=self.per_merchant,
        )
        for number, delivery in enumerate(claimed):
            if stop is not None and stop.is_set():
                self.queue.release([d.id for d in claimed[number:]], worker=lane)
                break
            self.deliverer.deliver(delivery, worker=lane)
        return len(claimed)


def stored_traceparent(store: EventStore) -> Callable[[UUID, int], str | None]:
    """Reads the traceparent an object's version was recorded with (Deliverer.trace_of)."""

    def trace_of(object_id: UUID, version: int) -> str | None:
        event = store.event(object_id, version)
        meta: dict[str, str] = getattr(event, "meta", None) or {}
        return meta.get("traceparent")

    return trace_of
