"""Dispute (chargeback): a cardholder contests a captured payment through their bank.

    needs_response ──evidence──▶ under_review ──acquirer decides──▶ won | lost
          │                                                             ▲
          ├──acquirer decides (no evidence sent) ───────────────────────┤
          └──due date passed without evidence (`expire`) ──▶ lost ──────┘

`EvidenceErased` (the customer was erased) changes no status: it erases the evidence's
personal fields and refuses them in later evidence.

Opening takes the disputed amount and the dispute fee from the merchant's balance at
once (the ledger posts `dispute`); winning gives both back (`dispute_won`); losing
leaves them taken. One dispute per payment: its id derives from the payment's, so two
notices of the same chargeback write version 1 of one aggregate and only one can.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid5

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.dispute_evidence import (
    check_evidence,
    check_impersonal,
    erase_evidence,
    is_personal_evidence,
)
from paysource.domain.dispute_fee import dispute_fee
from paysource.domain.errors import AmountExceeded, IllegalTransition, InvalidAmount, InvalidValue
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.payment import Payment, PaymentStatus
from paysource.domain.personal import PersonalFields

# Fixed forever: dispute ids derived from it name stored aggregates.
_DISPUTE_NAMESPACE = UUID("5a3c9e17-2b84-4d6f-8e01-7c4b2a9d3f65")
RESPONSE_WINDOW = timedelta(days=7)
MAX_REASON_LENGTH = 64


class DisputeStatus(StrEnum):
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"


OPEN_STATUSES = frozenset({DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW})


class DisputeReason(StrEnum):
    FRAUDULENT = "fraudulent"
    PRODUCT_NOT_RECEIVED = "product_not_received"
    PRODUCT_UNACCEPTABLE = "product_unacceptable"
    DUPLICATE = "duplicate"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    CREDIT_NOT_PROCESSED = "credit_not_processed"
    GENERAL = "general"


def dispute_id(payment_id: UUID) -> UUID:
    return uuid5(_DISPUTE_NAMESPACE, str(payment_id))


def check_disputable(payment: Payment, amount: Money | None) -> int:
    """The disputed amount: at most what was captured and not refunded (nor reserved
    for a refund in flight); all of that when `amount` is None. Only a capture the
    acquirer confirmed (or one from before confirmations) can be disputed."""
    if payment.status is not PaymentStatus.SUCCEEDED:
        raise IllegalTransition(
            f"cannot dispute a payment that is {payment.status}", code="payment_not_disputable"
        )
    if payment.settlement_hold is not None or payment.amount_reversed:
        # The acquirer refused the capture: it holds none of this money, and reversing
        # the capture takes the amount and fee from the merchant already.
        raise IllegalTransition(
            "the payment's capture was refused by the acquirer; it cannot be disputed",
            code="payment_capture_refused",
        )
    if payment.awaits_capture_confirmation:
        # A chargeback is of money the acquirer moved: until it confirms the capture it
        # may still refuse it, and a dispute would then take what the merchant never had.
        raise IllegalTransition(
            "the acquirer has not confirmed the payment's capture yet; it cannot be "
            "disputed until it does",
            code="payment_capture_unconfirmed",
        )
    if amount is not None and amount.currency != payment.currency:
        raise InvalidValue(
            f"amount is in {amount.currency}, the payment is in {payment.currency}",
            field="currency",
        )
    remaining = payment.amount_refundable
    amount_minor = remaining if amount is None else amount.amount_minor
    if amount_minor < 1:
        raise InvalidAmount("a dispute is of at least 1 minor unit", field="amount")
    if amount_minor > remaining:
        raise AmountExceeded(
            f"a dispute of {amount_minor} exceeds the {remaining} captured and not refunded",
            code="dispute_exceeds_captured",
        )
    return amount_minor


class Dispute(PaysourceAggregate):
    class Opened(PaysourceAggregate.Created):
        merchant_id: UUID
        payment_id: UUID
        amount_minor: int
        currency: str
        fee_minor: int
        reason: str
        due_by: datetime
        source: str
        request_hash: str

    class EvidenceSubmitted(PaysourceAggregate.Event):
        evidence: dict[str, str]

        def apply(self, aggregate: Dispute) -> None:
            aggregate.status = DisputeStatus.UNDER_REVIEW
            aggregate.evidence = dict(self.evidence)
            aggregate.evidence_submitted_at = self.timestamp

    class EvidenceErased(PaysourceAggregate.Event):
        """The customer was erased: the evidence's personal fields read ERASED from here
        on (the vault's key is destroyed too; this holds even where a key is cached)."""

        def apply(self, aggregate: Dispute) -> None:
            aggregate.evidence_erased = True
            aggregate.evidence = erase_evidence(aggregate.evidence)

    # Won and Lost repeat the merchant and money so each is a complete fact for the
    # ledger and for auditors, as Settlement's events do.
    class Won(PaysourceAggregate.Event):
        merchant_id: UUID
        currency: str
        amount_minor: int
        fee_minor: int
        outcome_reason: str

        def apply(self, aggregate: Dispute) -> None:
            aggregate.status = DisputeStatus.WON
            aggregate.outcome_reason = self.outcome_reason
            aggregate.closed_at = self.timestamp

    class Lost(PaysourceAggregate.Event):
        merchant_id: UUID
        currency: str
        amount_minor: int
        fee_minor: int
        outcome_reason: str

        def apply(self, aggregate: Dispute) -> None:
            aggregate.status = DisputeStatus.LOST
            aggregate.outcome_reason = self.outcome_reason
            aggregate.closed_at = self.timestamp

    def __init__(
        self,
        *,
        merchant_id: UUID,
        payment_id: UUID,
        amount_minor: int,
        currency: str,
        fee_minor: int,
        reason: str,
        due_by: datetime,
        source: str,
        request_hash: str,
    ) -> None:
        self.merchant_id = merchant_id
        self.payment_id = payment_id
        self.amount_minor = amount_minor
        self.currency = currency
        self.fee_minor = fee_minor
        self.reason = DisputeReason(reason)
        self.due_by = due_by
        self.source = source
        self.request_hash = request_hash
        self.status = DisputeStatus.NEEDS_RESPONSE
        self.evidence: dict[str, str] = {}
        self.evidence_submitted_at: datetime | None = None
        self.evidence_erased = False
        self.outcome_reason: str | None = None
        self.closed_at: datetime | None = None

    @classmethod
    def open(
        cls,
        *,
        payment: Payment,
        amount: Money | None,
        reason: DisputeReason,
        source: str,
        request_hash: str,
        meta: Meta,
    ) -> Dispute:
        """Open the dispute of `payment`, taking its amount and fee from the merchant."""
        amount_minor = check_disputable(payment, amount)
        return cls._open(
            cls.Opened,
            aggregate_id=dispute_id(payment.id),
            meta=meta,
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            amount_minor=amount_minor,
            currency=payment.currency,
            fee_minor=dispute_fee(payment.currency).amount_minor,
            reason=str(reason),
            due_by=meta.at + RESPONSE_WINDOW,
            source=source,
            request_hash=request_hash,
        )

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def check_open(self) -> None:
        if not self.is_open:
            raise IllegalTransition(f"the dispute is already {self.status}", code="dispute_closed")

    def submit_evidence(self, evidence: dict[str, str], meta: Meta) -> None:
        """The merchant's answer, once, before the due date: the dispute goes to review."""
        if self.status is not DisputeStatus.NEEDS_RESPONSE:
            raise IllegalTransition(
                f"the dispute is {self.status}: evidence is taken once, while it needs a response",
                code="dispute_not_awaiting_evidence",
            )
        if meta.at > self.due_by:
            raise IllegalTransition("the dispute's due date has passed", code="dispute_past_due")
        checked = check_evidence(evidence)
        if self.evidence_erased:
            check_impersonal(checked)
        self._record(self.EvidenceSubmitted, meta, evidence=checked)

    def erase_evidence(self, meta: Meta) -> None:
        """Record that the customer's data in the evidence is erased (at any status, with
        or without evidence yet: later evidence may not name them); once."""
        if not self.evidence_erased:
            self._record(self.EvidenceErased, meta)

    def win(self, *, outcome_reason: str, meta: Meta) -> None:
        self.check_open()
        self._record(self.Won, meta, **self._money_fields(), outcome_reason=outcome_reason)

    def lose(self, *, outcome_reason: str, meta: Meta) -> None:
        self.check_open()
        self._record(self.Lost, meta, **self._money_fields(), outcome_reason=outcome_reason)

    def expire(self, meta: Meta) -> None:
        """No evidence by the due date: the merchant accepted the chargeback; lost."""
        if self.status is not DisputeStatus.NEEDS_RESPONSE or meta.at <= self.due_by:
            raise IllegalTransition("the dispute has not expired", code="dispute_not_expired")
        self.lose(outcome_reason="no_response", meta=meta)

    def _money_fields(self) -> dict[str, object]:
        return {
            "merchant_id": self.merchant_id,
            "currency": self.currency,
            "amount_minor": self.amount_minor,
            "fee_minor": self.fee_minor,
        }


# The evidence's personal fields, sealed under the dispute's key (its originator id).
PERSONAL: dict[type[PaysourceAggregate.Event], PersonalFields] = {
    Dispute.EvidenceSubmitted: PersonalFields((), mapping="evidence", key=is_personal_evidence),
}
