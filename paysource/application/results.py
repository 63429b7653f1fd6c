"""What the payment, refund and customer commands answer: the object as the command
left it, copied once from the aggregate into a frozen value.

Transports render these (REST through `representations`, GraphQL through its types);
neither reloads the aggregate nor holds one. Attribute names and types are the
aggregates' own, so one representation serves a command's result and a read of the
aggregate alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from paysource.domain.card import CardDetails
from paysource.domain.customer import Customer
from paysource.domain.money import Money
from paysource.domain.payment import (
    CancellationReason,
    CaptureMethod,
    Payment,
    PaymentStatus,
    SettlementHold,
)
from paysource.domain.refund import Refund, RefundReason, RefundStatus
from paysource.domain.risk import RiskAssessment


@dataclass(frozen=True, slots=True)
class PaymentState:
    id: UUID
    version: int
    merchant_id: UUID
    customer_id: UUID | None
    status: PaymentStatus
    amount_minor: int
    currency: str
    amount_capturable: int
    amount_captured: int
    amount_refunded: int
    amount_refund_pending: int
    fee_minor: int
    capture_method: CaptureMethod
    card: CardDetails
    risk: RiskAssessment | None
    decline_code: str | None
    cancellation_reason: CancellationReason | None
    description: str | None
    metadata: dict[str, str]
    relay_failures: tuple[str, ...]
    settlement_hold: SettlementHold | None
    relay_resolution: dict[str, str] | None
    authorized_at: datetime | None
    capture_confirmed_at: datetime | None
    created_on: datetime
    modified_on: datetime

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @classmethod
    def of(cls, p: Payment) -> PaymentState:
        return cls(
            id=p.id,
            version=p.version,
            merchant_id=p.merchant_id,
            customer_id=p.customer_id,
            status=p.status,
            amount_minor=p.amount_minor,
            currency=p.currency,
            amount_capturable=p.amount_capturable,
            amount_captured=p.amount_captured,
            amount_refunded=p.amount_refunded,
            amount_refund_pending=p.amount_refund_pending,
            fee_minor=p.fee_minor,
            capture_method=p.capture_method,
            card=p.card,
            risk=p.risk,
            decline_code=p.decline_code,
            cancellation_reason=p.cancellation_reason,
            description=p.description,
            metadata=dict(p.metadata),
            relay_failures=tuple(p.relay_failures),
            settlement_hold=p.settlement_hold,
            relay_resolution=dict(p.relay_resolution) if p.relay_resolution else None,
            authorized_at=p.authorized_at,
            capture_confirmed_at=p.capture_confirmed_at,
            created_on=p.created_on,
            modified_on=p.modified_on,
        )


@dataclass(frozen=True, slots=True)
class RefundState:
    id: UUID
    version: int
    payment_id: UUID
    merchant_id: UUID
    customer_id: UUID | None  # the payment's: who may read the refund
    status: RefundStatus
    amount_minor: int
    currency: str
    reason: RefundReason | None
    failure_code: str | None
    created_on: datetime
    modified_on: datetime

    @classmethod
    def of(cls, r: Refund, *, customer_id: UUID | None) -> RefundState:
        return cls(
            id=r.id,
            version=r.version,
            payment_id=r.payment_id,
            merchant_id=r.merchant_id,
            customer_id=customer_id,
            status=r.status,
            amount_minor=r.amount_minor,
            currency=r.currency,
            reason=r.reason,
            failure_code=r.failure_code,
            created_on=r.created_on,
            modified_on=r.modified_on,
        )


@dataclass(frozen=True, slots=True)
class CustomerState:
    id: UUID
    version: int
    merchant_id: UUID
    name: str
    email: str | None
    metadata: dict[str, str]
    created_on: datetime
    erased: bool = False

    @classmethod
    def of(cls, c: Customer) -> CustomerState:
        return cls(
            id=c.id,
            version=c.version,
            merchant_id=c.merchant_id,
            name=c.name,
            email=c.email,
            metadata=dict(c.metadata),
            created_on=c.created_on,
            erased=c.erased,
        )
