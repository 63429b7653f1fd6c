"""The authorization pipeline: what the worker does with payment and refund events.

    Payment.Created  → risk rules → acquirer authorization → capture if automatic
                       (asked of the acquirer first, then recorded as it answered)
    Payment.Captured → capture at the acquirer, unless already confirmed or refused
    Payment.Canceled → void the authorization at the acquirer
    Refund.Created   → refund at the acquirer → succeeded, or failed (reservation released)

Each acquirer call carries an idempotency key derived from the object, so a batch
redone after a crash asks again with the same key and the acquirer answers as the
first time: nothing is authorized, captured or refunded twice.

A capture the acquirer accepts is confirmed: an automatic one is asked of the acquirer
before it is recorded, as `Captured(confirmed=True)`; any other is recorded, relayed, then
confirmed with `Payment.CaptureConfirmed`. Only confirmed captures are settled
(docs/settlement.md, "Unconfirmed captures").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from paysource import logs
from paysource.application import tracing
from paysource.application.eventlog import Event, EventStore
from paysource.application.ids import Kind, encode, encode_optional
from paysource.application.merchants import MerchantFees
from paysource.application.ports import (
    Acquirer,
    AcquirerError,
    AcquirerRefused,
    AuthorizationResult,
    Clock,
    FeeLookup,
    RecentPayments,
    RefundResult,
)
from paysource.application.rates import UsdRates
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CancellationReason, CaptureMethod, Payment, PaymentStatus
from paysource.domain.refund import Refund, RefundStatus
from paysource.domain.risk import RiskPolicy, assess
from paysource.processes.batch import Lane, run_batch
from paysource.processes.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

R = TypeVar("R")

TIMEOUT_DECLINE_CODE = "acquirer_timeout"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of one acquirer call within a batch (same idempotency key each time)."""

    attempts: int = 3
    base_delay_s: float = 0.2

    def call(self, operation: Callable[[], R]) -> R:
        for attempt in range(self.attempts - 1):
            try:
                return operation()
            except AcquirerError as error:
                log.warning("acquirer call failed (attempt %d): %s", attempt + 1, error)
                time.sleep(self.base_delay_s * 2**attempt)
        return operation()


def _is_refund(event: Event) -> bool:
    return isinstance(event, Refund.Created)


def payment_topics() -> tuple[str, ...]:
    return tuple(
        get_topic(cls)
        for cls in (Payment.Created, Payment.Captured, Payment.Canceled, Refund.Created)
    )


class PaymentProcessor:
    """One partition of the pipeline. Payments are spread over partitions by id (a
    refund goes with its payment), so partitions run in parallel, in any number of
    worker processes, while each payment's events are handled in order."""

    def __init__(
        self,
        store: EventStore,
        acquirer: Acquirer,
        recent_payments: RecentPayments,
        clock: Clock,
        *,
        risk_policy: RiskPolicy | None = None,
        retry: RetryPolicy | None = None,
        partition: int = 0,
        partitions: int = 1,
        pool: ThreadPoolExecutor | None = None,
        fees: FeeLookup | None = None,
        usd_rates: UsdRates | None = None,
    ) -> None:
        assert 0 <= partition < partitions
        self._store = store
        self._fees = fees or MerchantFees(store)
        self._acquirer = acquirer
        self._recent = recent_payments
        self._clock = clock
        self._policy = risk_policy or RiskPolicy()
        self._usd_rates = usd_rates  # None: risk values amounts at the reference values
        self._retry = retry or RetryPolicy()
        self._partition = partition
        self._partitions = partitions
        self._pool = pool
        self.name = self.partition_name(partition, partitions)
        self.topics = payment_topics()

    @staticmethod
    def partition_name(partition: int, partitions: int) -> str:
        return f"processor-{partition}-of-{partitions}"

    def position(self) -> int:
        return self._store.position(self.name)

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        """One lane per payment of this partition (its refunds go with it), run as
        `batch.run_batch` says: loaded in one query, acquirer calls overlapping, one
        append with the tracking position, a failing or conflicting payment isolated."""
        lanes: dict[UUID, Lane] = {}
        for event in events:
            if isinstance(event, Payment.Captured) and event.confirmed:
                continue  # relayed before it was recorded: not even loaded again
            key = self._payment_id(event)
            if key.int % self._partitions == self._partition:
                lane = lanes.setdefault(key, Lane(key, aggregate_ids={key}))
                lane.events.append(event)
                lane.aggregate_ids.add(event.originator_id)
        run_batch(self._store, list(lanes.values()), tracking, self.handle, self._pool)

    @staticmethod
    def _payment_id(event: Event) -> UUID:
        if isinstance(event, Refund.Created):
            return event.payment_id
        return event.originator_id

    def handle(self, event: Event, uow: UnitOfWork) -> None:
        cause: dict[str, str] = getattr(event, "meta", {})
        payment_id = encode(Kind.PAYMENT, self._payment_id(event))
        refund_id = encode(Kind.REFUND, event.originator_id) if _is_refund(event) else None
        merchant_id: UUID | None = getattr(event, "merchant_id", None)
        # The request's trace and log fields follow its payment into the worker.
        with (
            logs.scope(
                request_id=cause.get("request_id"),
                merchant=encode_optional(Kind.MERCHANT, merchant_id),
                payment=payment_id,
                refund=refund_id,
            ),
            tracing.span(
                f"process {type(event).__qualname__}",
                traceparent=cause.get("traceparent"),
                attributes={"paysource.payment": payment_id, "paysource.refund": refund_id},
            ),
        ):
            self._dispatch(event, uow, self._meta(event))

    def _dispatch(self, event: Event, uow: UnitOfWork, meta: Meta) -> None:
        if isinstance(event, Payment.Created):
            self._on_created(event, uow, meta)
        elif isinstance(event, Payment.Captured):
            self._on_captured(event, uow, meta)
        elif isinstance(event, Payment.Canceled):
            self._on_canceled(event, uow)
        elif isinstance(event, Refund.Created):
            self._on_refund_created(event, uow, meta)

    def _meta(self, cause: Event) -> Meta:
        # Keep the request's id and trace on what the pipeline records in its wake: the
        # trace of this processing (a child of the request's) when spans are made.
        cause_meta: dict[str, str] = getattr(cause, "meta", {})
        return Meta(
            ActorKind.SYSTEM,
            "processor",
            request_id=cause_meta.get("request_id"),
            traceparent=tracing.current_traceparent() or cause_meta.get("traceparent"),
            at=self._clock.now(),
        )

    def _on_created(self, event: Payment.Created, uow: UnitOfWork, meta: Meta) -> None:
        payment = uow.get(event.originator_id, Payment)
        if payment is None or payment.status is not PaymentStatus.PROCESSING:
            return
        recent = 0
        if payment.customer_id is not None:
            recent = self._recent.count_between(
                merchant_id=payment.merchant_id,
                customer_id=payment.customer_id,
                since=event.timestamp - self._policy.velocity_window,
                until=event.timestamp,
            )
        rate = None
        if self._usd_rates is not None:
            rate = self._usd_rates.for_currency(payment.currency, event.timestamp)
        assessment = assess(
            self._policy,
            amount=payment.amount,
            card=payment.card,
            recent_payments=recent,
            rate=rate,
        )
        payment.assess_risk(assessment, meta)
        if assessment.blocked:
            log.info("payment blocked by the risk rules")
            return
        result = self._authorize(payment)
        if not result.approved:
            log.info("payment declined: %s", result.decline_code)
            payment.decline(decline_code=result.decline_code, message=result.message, meta=meta)
            return
        log.info("payment authorized")
        payment.authorize(
            authorization_code=result.authorization_code,
            acquirer_reference=result.reference,
            meta=meta,
        )
        if payment.capture_method is CaptureMethod.AUTOMATIC:
            # A batch reads each merchant's fee schedule once, not once per payment.
            fees = uow.remember(("fees", payment.merchant_id), self._fees, payment.merchant_id)
            self._capture_automatically(payment, fees, meta)

    def _capture_automatically(self, payment: Payment, fees: FeeSchedule, meta: Meta) -> None:
        """Ask the acquirer to capture the whole hold first, once, then record the
        capture as it answered: accepted, `Captured(confirmed=True)`, one event and no
        `Captured` round (issue 10); refused, the capture and the refusal, as a relay's;
        no answer, an unconfirmed capture whose `Captured` round asks again under the
        same key, and waits. A batch redone asks again under the same key too."""
        assert payment.acquirer_reference is not None, "authorized just now"
        key = f"{payment.id}:capture"
        amount = Money(payment.amount_capturable, payment.currency)
        try:
            self._acquirer.capture(
                idempotency_key=key, reference=payment.acquirer_reference, amount=amount
            )
        except AcquirerRefused as refusal:
            payment.capture(None, fees, meta)
            self._record_refusal(payment, "capture", refusal)
        except AcquirerError as error:
            log.warning("capture not confirmed yet, asked again on its own: %s", error)
            payment.capture(None, fees, meta)
        else:
            payment.capture(None, fees, meta, confirmed=True)

    def _authorize(self, payment: Payment) -> AuthorizationResult:
        key = f"{payment.id}:authorize"
        try:
            return self._retry.call(
                lambda: self._acquirer.authorize(
                    idempotency_key=key,
                    payment_id=payment.id,
                    amount=payment.amount,
                    card=payment.card,
                )
            )
        except AcquirerError:
            # No answer is not a decline: the acquirer may have authorized. Ask, and
            # decline only once it has cancelled the key (no hold can appear later).
            known = self._acquirer.resolve_authorization(idempotency_key=key)
            return known or AuthorizationResult(
                approved=False,
                decline_code=TIMEOUT_DECLINE_CODE,
                message="the acquirer did not answer; the authorization was cancelled",
            )

    def _on_captured(self, event: Payment.Captured, uow: UnitOfWork, meta: Meta) -> None:
        payment = uow.get(event.originator_id, Payment)
        assert payment is not None
        if payment.capture_confirmed_at is not None:
            return  # relayed by the batch that authorized it (or this one, redone)
        # A capture is a decision already recorded: retry while the acquirer cannot be
        # reached (the batch waits: everything would fail alike); a refusal is recorded.
        self._relay_capture(payment, meta)

    def _relay_capture(self, payment: Payment, meta: Meta) -> None:
        """Capture at the acquirer what the payment captured; confirm it if accepted."""
        assert payment.acquirer_reference is not None, "captured and canceled were authorized"
        reference = payment.acquirer_reference
        key = f"{payment.id}:capture"
        amount = Money(payment.amount_captured, payment.currency)
        call = partial(
            self._acquirer.capture, idempotency_key=key, reference=reference, amount=amount
        )
        if self._relay(payment, "capture", call):
            payment.confirm_capture(capture_key=key, meta=meta)

    def _on_canceled(self, event: Payment.Canceled, uow: UnitOfWork) -> None:
        if event.reason == CancellationReason.RISK:
            return  # never authorized: nothing to void
        payment = uow.get(event.originator_id, Payment)
        assert payment is not None
        assert payment.acquirer_reference is not None, "captured and canceled were authorized"
        reference = payment.acquirer_reference
        self._relay(
            payment,
            "void",
            lambda: self._acquirer.void(
                idempotency_key=f"{event.originator_id}:void", reference=reference
            ),
        )

    def _relay(self, payment: Payment, operation: str, call: Callable[[], None]) -> bool:
        """Carry a recorded decision to the acquirer; True if it was carried out. One
        payment's refusal must not hold up the partition: it is recorded on the payment
        and logged for people. No answer raises `AcquirerError` (after the retries)."""
        if operation in payment.relay_failures:
            return False  # a batch redone after its refusal was recorded: record it once
        try:
            self._retry.call(call)
        except AcquirerRefused as refusal:
            self._record_refusal(payment, operation, refusal)
            return False
        return True

    def _record_refusal(self, payment: Payment, operation: str, refusal: AcquirerRefused) -> None:
        payment_id = encode(Kind.PAYMENT, payment.id)
        log.error("acquirer refused the %s of payment %s: %s", operation, payment_id, refusal)
        meta = Meta(ActorKind.SYSTEM, "processor", at=self._clock.now())
        payment.record_relay_failure(operation=operation, reason=str(refusal), meta=meta)

    def _on_refund_created(self, event: Refund.Created, uow: UnitOfWork, meta: Meta) -> None:
        refund = uow.get(event.originator_id, Refund)
        payment = uow.get(event.payment_id, Payment)
        if refund is None or payment is None or refund.status is not RefundStatus.PENDING:
            return
        assert payment.acquirer_reference is not None, "only captured payments are refunded"
        reference = payment.acquirer_reference
        try:
            result = self._retry.call(
                lambda: self._acquirer.refund(
                    idempotency_key=f"{refund.id}:refund", reference=reference, amount=refund.amount
                )
            )
        except AcquirerError:
            # Unknown, not failed: a refund made but unanswered must not be released
            # (the merchant would refund again). Fail only once the key is cancelled.
            known = self._acquirer.resolve_refund(idempotency_key=f"{refund.id}:refund")
            result = known or RefundResult(succeeded=False, failure_code=TIMEOUT_DECLINE_CODE)
        if result.succeeded:
            refund.succeed(payment, acquirer_reference=result.reference, meta=meta)
        else:
            refund.fail(payment, failure_code=result.failure_code, meta=meta)
