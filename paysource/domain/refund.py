"""Refund: money returned from a captured payment, `pending → succeeded | failed`.

A refund is opened together with a reservation on its payment and both are saved in
one transaction; the acquirer's answer settles or releases that reservation.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.errors import IllegalTransition
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.payment import Payment


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundReason(StrEnum):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


class Refund(PaysourceAggregate):
    class Created(PaysourceAggregate.Created):
        merchant_id: UUID
        payment_id: UUID
        amount_minor: int
        currency: str
        reason: str | None
        request_hash: str

    class Succeeded(PaysourceAggregate.Event):
        acquirer_reference: str

        def apply(self, aggregate: Refund) -> None:
            aggregate.status = RefundStatus.SUCCEEDED
            aggregate.acquirer_reference = self.acquirer_reference

    class Failed(PaysourceAggregate.Event):
        failure_code: str

        def apply(self, aggregate: Refund) -> None:
            aggregate.status = RefundStatus.FAILED
            aggregate.failure_code = self.failure_code

    def __init__(
        self,
        *,
        merchant_id: UUID,
        payment_id: UUID,
        amount_minor: int,
        currency: str,
        reason: str | None,
        request_hash: str,
    ) -> None:
        self.merchant_id = merchant_id
        self.payment_id = payment_id
        self.amount_minor = amount_minor
        self.currency = currency
        self.reason = RefundReason(reason) if reason else None
        self.request_hash = request_hash
        self.status = RefundStatus.PENDING
        self.acquirer_reference: str | None = None
        self.failure_code: str | None = None

    @classmethod
    def open(
        cls,
        *,
        refund_id: UUID,
        payment: Payment,
        amount: Money | None,
        reason: RefundReason | None,
        request_hash: str,
        meta: Meta,
    ) -> Refund:
        """Reserve the amount on `payment` and open the refund: save both together."""
        amount_minor = payment.reserve_refund(refund_id, amount, meta)
        return cls._open(
            cls.Created,
            aggregate_id=refund_id,
            meta=meta,
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            amount_minor=amount_minor,
            currency=payment.currency,
            reason=str(reason) if reason else None,
            request_hash=request_hash,
        )

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    def check_pending(self) -> None:
        if self.status is not RefundStatus.PENDING:
            raise IllegalTransition(
                f"the refund is already {self.status}", code="refund_not_pending"
            )

    def succeed(self, payment: Payment, *, acquirer_reference: str, meta: Meta) -> None:
        self.check_pending()
        payment.settle_refund(self.id, meta)
        self._record(self.Succeeded, meta, acquirer_reference=acquirer_reference)

    def fail(self, payment: Payment, *, failure_code: str, meta: Meta) -> None:
        self.check_pending()
        payment.release_refund(self.id, meta)
        self._record(self.Failed, meta, failure_code=failure_code)
