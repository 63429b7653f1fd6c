"""Payment: an amount a customer's card is asked for, authorized, captured, refunded.

    processing ──risk+acquirer──▶ requires_capture ──capture──▶ succeeded ──acquirer──▶ confirmed
        │                               │
        ├──declined──▶ failed           └──cancel/expire──▶ canceled
        └──risk blocked──▶ canceled (reason: risk)

A capture is settled only once the acquirer has confirmed it (`CaptureConfirmed`,
recorded by the worker when the acquirer accepts it): until then its money waits.
`Captured` events written before confirmations existed (class version 1) are upcast to
`confirmation_required=False`: those captures settle as they always did
(docs/settlement.md, "Unconfirmed captures").

A capture the acquirer refused (`RelayFailed`, operation `capture`) puts the payment
on a **settlement hold**: none of its money is settled or refunded until an operator
resolves it — `RelayRetried` (the acquirer asked again: the hold lifts if it captured)
or `CaptureReversed` (the books forget the capture: the merchant is not owed it).

Refunds reserve part of the captured amount *on the payment* in the same
transaction that creates the Refund, so the event store's optimistic concurrency
(one version per payment event) makes over-refunding impossible under any race.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.card import CardDetails, contains_pan
from paysource.domain.errors import (
    AmountExceeded,
    CardNumberRefused,
    IllegalTransition,
    InvalidAmount,
    InvalidValue,
)
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.profile import check_metadata, check_text
from paysource.domain.risk import RiskAssessment, RiskOutcome

MIN_PAYMENT_MINOR = 1
MAX_PAYMENT_MINOR = 10**12
MAX_DESCRIPTION_LENGTH = 1000


class PaymentStatus(StrEnum):
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


FINAL_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELED})


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class SettlementHold(StrEnum):
    """Why a payment's money waits outside settlements."""

    CAPTURE_REFUSED = "capture_refused"


class RelayAction(StrEnum):
    RETRY = "retry"
    REVERSE = "reverse"


class CancellationReason(StrEnum):
    REQUESTED = "requested"
    EXPIRED = "expired"
    RISK = "risk"


def check_payment_amount(amount: Money) -> Money:
    if not MIN_PAYMENT_MINOR <= amount.amount_minor <= MAX_PAYMENT_MINOR:
        raise InvalidAmount(
            f"amount must be between {MIN_PAYMENT_MINOR} and {MAX_PAYMENT_MINOR} minor units",
            field="amount",
        )
    return amount


def check_description(description: str | None) -> str | None:
    if description is not None:
        check_text(description, field="description")
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidValue(
            f"description must be at most {MAX_DESCRIPTION_LENGTH} characters",
            field="description",
        )
    return description


MAX_REASON_LENGTH = 500


def relay_resolution(
    action: RelayAction, *, outcome: str, reason: str, failure: str = ""
) -> dict[str, str]:
    """What a payment shows of its latest resolution (REST, GraphQL, read models)."""
    return {"action": str(action), "outcome": outcome, "reason": reason, "failure": failure}


def check_reason(reason: str) -> str:
    """An operator's reason is kept with the books forever: required, short, plain."""
    check_text(reason, field="reason")
    if contains_pan(reason):
        raise CardNumberRefused("reason must not hold a card number", field="reason")
    if not reason.strip() or len(reason) > MAX_REASON_LENGTH:
        raise InvalidValue(f"reason must be 1 to {MAX_REASON_LENGTH} characters", field="reason")
    return reason


class Payment(PaysourceAggregate):
    class Created(PaysourceAggregate.Created):
        merchant_id: UUID
        customer_id: UUID | None
        amount_minor: int
        currency: str
        capture_method: str
        card: dict[str, str]
        description: str | None
        metadata: dict[str, str]
        request_hash: str

    class RiskAssessed(PaysourceAggregate.Event):
        outcome: str
        score: int
        reasons: list[str]

        def apply(self, aggregate: Payment) -> None:
            aggregate.risk = RiskAssessment(
                RiskOutcome(self.outcome), self.score, tuple(self.reasons)
            )

    class Authorized(PaysourceAggregate.Event):
        authorization_code: str
        acquirer_reference: str

        def apply(self, aggregate: Payment) -> None:
            aggregate.status = PaymentStatus.REQUIRES_CAPTURE
            aggregate.amount_capturable = aggregate.amount_minor
            aggregate.authorized_at = self.timestamp
            aggregate.acquirer_reference = self.acquirer_reference

    class Declined(PaysourceAggregate.Event):
        decline_code: str
        message: str

        def apply(self, aggregate: Payment) -> None:
            aggregate.status = PaymentStatus.FAILED
            aggregate.decline_code = self.decline_code

    class Captured(PaysourceAggregate.Event):
        """`confirmation_required`: whether the capture waits for `CaptureConfirmed`
        before it is settled (version 1 events predate confirmations: they do not)."""

        class_version = 2

        amount_minor: int
        fee_minor: int
        released_minor: int
        confirmation_required: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["confirmation_required"] = False

        def apply(self, aggregate: Payment) -> None:
            aggregate.status = PaymentStatus.SUCCEEDED
            aggregate.amount_captured = self.amount_minor
            aggregate.amount_capturable = 0
            aggregate.fee_minor = self.fee_minor
            aggregate.capture_confirmation_required = self.confirmation_required

    class CaptureConfirmed(PaysourceAggregate.Event):
        """The acquirer accepted the capture of authorization `acquirer_reference`, asked
        under `capture_key`: its money moves, so it may be settled (at `timestamp`)."""

        acquirer_reference: str
        capture_key: str

        def apply(self, aggregate: Payment) -> None:
            aggregate.capture_confirmed_at = self.timestamp

    class Canceled(PaysourceAggregate.Event):
        reason: str
        released_minor: int

        def apply(self, aggregate: Payment) -> None:
            aggregate.status = PaymentStatus.CANCELED
            aggregate.cancellation_reason = CancellationReason(self.reason)
            aggregate.amount_capturable = 0

    class RelayFailed(PaysourceAggregate.Event):
        """The acquirer refused to carry out a recorded decision (a capture, a void):
        money may not move as recorded, so operations must look (it is logged too)."""

        operation: str
        reason: str

        def apply(self, aggregate: Payment) -> None:
            aggregate.relay_failures.append(self.operation)
            if self.operation == "capture":
                aggregate.settlement_hold = SettlementHold.CAPTURE_REFUSED

    class RelayRetried(PaysourceAggregate.Event):
        """An operator had the refused capture asked again (`reason` is theirs); the
        acquirer `succeeded`, or refused again with `failure`."""

        operation: str
        succeeded: bool
        reason: str
        failure: str

        def apply(self, aggregate: Payment) -> None:
            aggregate.relay_resolution = self.resolution
            if self.succeeded:
                aggregate.settlement_hold = None

        @property
        def resolution(self) -> dict[str, str]:
            outcome = "captured" if self.succeeded else "refused"
            return relay_resolution(
                RelayAction.RETRY, outcome=outcome, reason=self.reason, failure=self.failure
            )

    class CaptureReversed(PaysourceAggregate.Event):
        """An operator reversed a capture the acquirer never made: the capture and its
        fee leave the books. `settled_in`: the settlement that already paid it (then a
        correction debit follows it into the merchant's next settlement), or None."""

        amount_minor: int
        fee_minor: int
        reason: str
        settled_in: UUID | None

        def apply(self, aggregate: Payment) -> None:
            aggregate.amount_reversed = self.amount_minor
            aggregate.settlement_hold = None
            aggregate.relay_resolution = self.resolution

        @property
        def resolution(self) -> dict[str, str]:
            return relay_resolution(RelayAction.REVERSE, outcome="reversed", reason=self.reason)

    class RefundReserved(PaysourceAggregate.Event):
        refund_id: UUID
        amount_minor: int

        def apply(self, aggregate: Payment) -> None:
            aggregate.pending_refunds[self.refund_id] = self.amount_minor

    class RefundSettled(PaysourceAggregate.Event):
        refund_id: UUID
        amount_minor: int

        def apply(self, aggregate: Payment) -> None:
            del aggregate.pending_refunds[self.refund_id]
            aggregate.amount_refunded += self.amount_minor

    class RefundReleased(PaysourceAggregate.Event):
        refund_id: UUID
        amount_minor: int

        def apply(self, aggregate: Payment) -> None:
            del aggregate.pending_refunds[self.refund_id]

    def __init__(
        self,
        *,
        merchant_id: UUID,
        customer_id: UUID | None,
        amount_minor: int,
        currency: str,
        capture_method: str,
        card: dict[str, str],
        description: str | None,
        metadata: dict[str, str],
        request_hash: str,
    ) -> None:
        self.merchant_id = merchant_id
        self.customer_id = customer_id
        self.amount_minor = amount_minor
        self.currency = currency
        self.capture_method = CaptureMethod(capture_method)
        self.card = CardDetails.from_dict(card)
        self.description = description
        self.metadata = metadata
        self.request_hash = request_hash
        self.status = PaymentStatus.PROCESSING
        self.amount_capturable = 0
        self.amount_captured = 0
        self.amount_refunded = 0
        self.fee_minor = 0
        self.pending_refunds: dict[UUID, int] = {}
        self.relay_failures: list[str] = []
        self.settlement_hold: SettlementHold | None = None
        self.relay_resolution: dict[str, str] | None = None
        self.amount_reversed = 0
        self.risk: RiskAssessment | None = None
        self.decline_code: str | None = None
        self.cancellation_reason: CancellationReason | None = None
        self.authorized_at: datetime | None = None
        self.acquirer_reference: str | None = None
        self.capture_confirmation_required = False
        self.capture_confirmed_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        payment_id: UUID,
        merchant_id: UUID,
        customer_id: UUID | None,
        amount: Money,
        capture_method: CaptureMethod,
        card: CardDetails,
        description: str | None,
        metadata: dict[str, str],
        request_hash: str,
        meta: Meta,
    ) -> Payment:
        check_payment_amount(amount)
        return cls._open(
            cls.Created,
            aggregate_id=payment_id,
            meta=meta,
            merchant_id=merchant_id,
            customer_id=customer_id,
            amount_minor=amount.amount_minor,
            currency=amount.currency,
            capture_method=str(capture_method),
            card=card.as_dict(),
            description=check_description(description),
            metadata=check_metadata(metadata),
            request_hash=request_hash,
        )

    # Derived values -----------------------------------------------------------------

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def amount_refund_pending(self) -> int:
        return sum(self.pending_refunds.values())

    @property
    def amount_refundable(self) -> int:
        return (
            self.amount_captured
            - self.amount_refunded
            - self.amount_refund_pending
            - self.amount_reversed
        )

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def awaits_capture_confirmation(self) -> bool:
        """Captured, but the acquirer has not yet confirmed it: nothing of it settles."""
        return self.capture_confirmation_required and self.capture_confirmed_at is None

    # Guards ---------------------------------------------------------------------------

    def check_status(self, expected: PaymentStatus, *, code: str, action: str) -> None:
        if self.status is not expected:
            raise IllegalTransition(f"cannot {action} a payment that is {self.status}", code=code)

    def _money(self, amount: Money) -> int:
        if amount.currency != self.currency:
            raise InvalidValue(
                f"amount is in {amount.currency}, the payment is in {self.currency}",
                field="currency",
            )
        return amount.amount_minor

    # Commands of the authorization pipeline -------------------------------------------

    def assess_risk(self, assessment: RiskAssessment, meta: Meta) -> None:
        self.check_status(PaymentStatus.PROCESSING, code="payment_not_processing", action="assess")
        if self.risk is not None:
            raise IllegalTransition("risk was already assessed", code="risk_already_assessed")
        self._record(
            self.RiskAssessed,
            meta,
            outcome=str(assessment.outcome),
            score=assessment.score,
            reasons=list(assessment.reasons),
        )
        if assessment.blocked:
            self._record(self.Canceled, meta, reason=str(CancellationReason.RISK), released_minor=0)

    def authorize(self, *, authorization_code: str, acquirer_reference: str, meta: Meta) -> None:
        self.check_status(
            PaymentStatus.PROCESSING, code="payment_not_processing", action="authorize"
        )
        if self.risk is None:
            raise IllegalTransition("risk must be assessed first", code="risk_not_assessed")
        self._record(
            self.Authorized,
            meta,
            authorization_code=authorization_code,
            acquirer_reference=acquirer_reference,
        )

    def decline(self, *, decline_code: str, message: str, meta: Meta) -> None:
        self.check_status(PaymentStatus.PROCESSING, code="payment_not_processing", action="decline")
        self._record(self.Declined, meta, decline_code=decline_code, message=message)

    # Commands of the merchant ---------------------------------------------------------

    def capture(self, amount: Money | None, fees: FeeSchedule, meta: Meta) -> None:
        """Capture all or part of the hold, once; the rest of the hold is released."""
        self.check_status(
            PaymentStatus.REQUIRES_CAPTURE, code="payment_not_capturable", action="capture"
        )
        amount_minor = self.amount_capturable if amount is None else self._money(amount)
        if amount_minor < MIN_PAYMENT_MINOR:
            raise InvalidAmount("capture amount must be at least 1 minor unit", field="amount")
        if amount_minor > self.amount_capturable:
            raise AmountExceeded(
                f"capture of {amount_minor} exceeds the {self.amount_capturable} authorized",
                code="capture_exceeds_authorized",
            )
        fee = fees.fee_for(Money(amount_minor, self.currency))
        self._record(
            self.Captured,
            meta,
            amount_minor=amount_minor,
            fee_minor=fee.amount_minor,
            released_minor=self.amount_capturable - amount_minor,
            confirmation_required=True,
        )

    def cancel(self, meta: Meta) -> None:
        self.check_status(
            PaymentStatus.REQUIRES_CAPTURE, code="payment_not_cancelable", action="cancel"
        )
        self._release_hold(CancellationReason.REQUESTED, meta)

    def expire(self, *, now: datetime, hold_ttl: timedelta, meta: Meta) -> None:
        self.check_status(
            PaymentStatus.REQUIRES_CAPTURE, code="payment_not_cancelable", action="expire"
        )
        assert self.authorized_at is not None  # set with requires_capture
        if now - self.authorized_at < hold_ttl:
            raise IllegalTransition("the hold has not expired yet", code="hold_not_expired")
        self._release_hold(CancellationReason.EXPIRED, meta)

    def _release_hold(self, reason: CancellationReason, meta: Meta) -> None:
        self._record(self.Canceled, meta, reason=str(reason), released_minor=self.amount_capturable)

    def record_relay_failure(self, *, operation: str, reason: str, meta: Meta) -> None:
        self._record(self.RelayFailed, meta, operation=operation, reason=reason[:500])

    def confirm_capture(self, *, capture_key: str, meta: Meta) -> None:
        """Record that the acquirer accepted the capture (once: a repeat does nothing)."""
        self.check_status(
            PaymentStatus.SUCCEEDED, code="payment_not_captured", action="confirm the capture of"
        )
        if self.capture_confirmed_at is not None:
            return
        assert self.acquirer_reference is not None  # captured payments were authorized
        self._record(
            self.CaptureConfirmed,
            meta,
            acquirer_reference=self.acquirer_reference,
            capture_key=capture_key,
        )

    # Commands of operations: resolving a refused capture --------------------------------

    def check_relay_held(self) -> None:
        if self.settlement_hold is None:
            raise IllegalTransition(
                "the payment has no unresolved relay failure to resolve", code="relay_not_held"
            )

    def record_relay_retry(self, *, succeeded: bool, reason: str, failure: str, meta: Meta) -> None:
        """Record what the acquirer answered when the refused capture was asked again."""
        self.check_relay_held()
        self._record(
            self.RelayRetried,
            meta,
            operation="capture",
            succeeded=succeeded,
            reason=check_reason(reason),
            failure=failure[:500],
        )

    def reverse_capture(self, *, reason: str, settled_in: UUID | None, meta: Meta) -> None:
        """Take the refused capture (and its fee) out of the books, for good."""
        self.check_relay_held()
        if self.amount_refunded or self.pending_refunds:
            raise IllegalTransition(
                "a payment with refunds cannot have its capture reversed",
                code="payment_has_refunds",
            )
        self._record(
            self.CaptureReversed,
            meta,
            amount_minor=self.amount_captured,
            fee_minor=self.fee_minor,
            reason=check_reason(reason),
            settled_in=settled_in,
        )

    # Refund bookkeeping (called by Refund, in the same save) ---------------------------

    def reserve_refund(self, refund_id: UUID, amount: Money | None, meta: Meta) -> int:
        """Reserve `amount` (default: all that remains) for a new refund; return it."""
        self.check_status(PaymentStatus.SUCCEEDED, code="payment_not_refundable", action="refund")
        if self.settlement_hold is not None or self.amount_reversed:
            # The acquirer holds none of this money: a refund could only fail there, and
            # would be a debit against a capture that is never settled.
            raise IllegalTransition(
                "the payment's capture was refused by the acquirer; it cannot be refunded",
                code="payment_capture_refused",
            )
        amount_minor = self.amount_refundable if amount is None else self._money(amount)
        if amount_minor > self.amount_refundable or self.amount_refundable == 0:
            raise AmountExceeded(
                f"refund of {amount_minor} exceeds the {self.amount_refundable} that remains "
                "refundable",
                code="refund_exceeds_captured",
            )
        if amount_minor < MIN_PAYMENT_MINOR:
            raise InvalidAmount("refund amount must be at least 1 minor unit", field="amount")
        if refund_id in self.pending_refunds:
            raise IllegalTransition("this refund is already reserved", code="refund_exists")
        self._record(self.RefundReserved, meta, refund_id=refund_id, amount_minor=amount_minor)
        return amount_minor

    def settle_refund(self, refund_id: UUID, meta: Meta) -> None:
        amount_minor = self._pending_refund(refund_id)
        self._record(self.RefundSettled, meta, refund_id=refund_id, amount_minor=amount_minor)

    def release_refund(self, refund_id: UUID, meta: Meta) -> None:
        amount_minor = self._pending_refund(refund_id)
        self._record(self.RefundReleased, meta, refund_id=refund_id, amount_minor=amount_minor)

    def _pending_refund(self, refund_id: UUID) -> int:
        if refund_id not in self.pending_refunds:
            raise IllegalTransition("the refund is not pending", code="refund_not_pending")
        return self.pending_refunds[refund_id]
