"""Refund commands and reads."""

from __future__ import annotations

from uuid import UUID

from paysource import logs
from paysource.application.disputes import refuse_if_disputed
from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome
from paysource.application.ids import Kind, encode
from paysource.application.payments import in_currency
from paysource.application.results import RefundState
from paysource.application.tracing import traced
from paysource.domain.idempotency import claim_id
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.payment import Payment
from paysource.domain.refund import Refund, RefundReason


class RefundService:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._claims = Claims(store)

    @traced("command create_refund")
    def create_refund(
        self,
        *,
        merchant_id: UUID,
        payment_id: UUID,
        amount: Money | int | None,
        reason: RefundReason | None,
        idempotency_key: str,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[RefundState]:
        """Open a refund and reserve its amount on the payment, in one transaction."""
        logs.bind(refund=encode(Kind.REFUND, claim_id(merchant_id, idempotency_key)))

        customers: list[UUID | None] = []  # the payment's customer, once loaded

        def attempt() -> Outcome[Refund]:
            payment = self._store.get(payment_id, Payment)
            if payment is None or payment.merchant_id != merchant_id:
                raise NotFound("no such payment")
            customers.append(payment.customer_id)
            # The cardholder's bank returns a disputed payment's money: a refund as
            # well would return it twice.
            refuse_if_disputed(
                self._store, payment_id, "the cardholder's bank returns its money, not a refund"
            )
            refund = Refund.open(
                refund_id=claim_id(merchant_id, idempotency_key),
                payment=payment,
                amount=in_currency(amount, payment.currency),
                reason=reason,
                request_hash=request_hash,
                meta=meta,
            )
            self._store.save(payment, refund)
            return Outcome(refund)

        outcome = self._claims.run(
            merchant_id=merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            kind=Refund,
            attempt=attempt,
        )
        refund = outcome.value
        if not customers:  # a replay: a payment's customer never changes, any version will do
            payment = self._store.get(refund.payment_id, Payment)
            customers.append(None if payment is None else payment.customer_id)
        return Outcome(RefundState.of(refund, customer_id=customers[-1]), outcome.replayed)

    def get_refund(self, *, merchant_id: UUID | None, refund_id: UUID) -> Refund:
        refund = self._store.get(refund_id, Refund)
        if refund is None or merchant_id not in (None, refund.merchant_id):
            raise NotFound("no such refund")
        return refund
