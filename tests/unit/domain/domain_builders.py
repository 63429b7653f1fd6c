"""Builders for the domain unit tests: valid defaults, with one keyword to vary per test.

Named `domain_builders` (not `helpers`) because test directories have no `__init__.py`
and pytest puts each on `sys.path`: a generic module name would clash across directories.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.card import CardDetails
from paysource.domain.currency import exponents
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment
from paysource.domain.refund import Refund
from paysource.domain.risk import RiskAssessment, RiskOutcome

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MERCHANT_ID = UUID("00000000-0000-4000-8000-00000000000a")
VISA = CardDetails(token="tok_visa", brand="visa", bin="424242", last4="4242")
NORMAL_RISK = RiskAssessment(RiskOutcome.NORMAL, 0)
BLOCKED_RISK = RiskAssessment(RiskOutcome.BLOCKED, 100, ("card_bin_blocked",))
# No fixed fee in any currency (the platform default has one in each).
NO_FEES = FeeSchedule(0, dict.fromkeys(exponents(), 0))


def usd(amount_minor: int) -> Money:
    return Money(amount_minor, "USD")


def merchant_meta(at: datetime = T0, **context: Any) -> Meta:
    return Meta(ActorKind.MERCHANT, str(MERCHANT_ID), at=at, **context)


def new_payment(
    amount: Money | None = None,
    *,
    capture_method: CaptureMethod = CaptureMethod.MANUAL,
    meta: Meta | None = None,
    **overrides: Any,
) -> Payment:
    fields: dict[str, Any] = {
        "payment_id": uuid4(),
        "merchant_id": MERCHANT_ID,
        "customer_id": None,
        "amount": amount or usd(10_000),
        "capture_method": capture_method,
        "card": VISA,
        "description": "order 1",
        "metadata": {"order": "1"},
        "request_hash": "hash-of-the-request",
        "meta": meta or merchant_meta(),
    }
    return Payment.create(**(fields | overrides))


def authorized_payment(amount: Money | None = None, *, at: datetime = T0) -> Payment:
    payment = new_payment(amount, meta=merchant_meta(at))
    payment.assess_risk(NORMAL_RISK, merchant_meta(at))
    payment.authorize(authorization_code="A1", acquirer_reference="acq-1", meta=merchant_meta(at))
    return payment


def captured_payment(
    amount: Money | None = None,
    *,
    captured: Money | None = None,
    fees: FeeSchedule = NO_FEES,
    confirmed: bool = False,
) -> Payment:
    """Captured; `confirmed`: the acquirer confirmed it too (as a disputable one is)."""
    payment = authorized_payment(amount)
    payment.capture(captured, fees, merchant_meta(), confirmed=confirmed)
    return payment


def dispute_of(payment: Payment, amount: Money | None = None) -> Dispute:
    return Dispute.open(
        payment=payment,
        amount=amount,
        reason=DisputeReason.FRAUDULENT,
        source="admin",
        request_hash="h",
        meta=merchant_meta(),
    )


def open_refund(payment: Payment, amount: Money | None = None) -> Refund:
    return Refund.open(
        refund_id=uuid4(),
        payment=payment,
        amount=amount,
        reason=None,
        request_hash="hash-of-the-refund",
        meta=merchant_meta(),
    )


def pending_event_names(aggregate: PaysourceAggregate) -> list[str]:
    """The class names of the events recorded and not yet collected (does not collect)."""
    return [type(event).__name__ for event in aggregate.pending_events]


def state(aggregate: PaysourceAggregate) -> dict[str, Any]:
    """Everything an aggregate holds except the events waiting to be saved."""
    return {name: value for name, value in vars(aggregate).items() if name != "_pending_events"}


def replayed(aggregate: PaysourceAggregate) -> PaysourceAggregate:
    """Save the aggregate's events in an in-memory store (through the JSON transcoder)
    and rebuild the aggregate from them."""
    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.save(aggregate)
    rebuilt: PaysourceAggregate = app.repository.get(aggregate.id)
    return rebuilt
