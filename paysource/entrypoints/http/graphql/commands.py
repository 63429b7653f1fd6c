"""Running a mutation's command: who may, the idempotency fast path, the result.

Commands run in a thread (the application layer is synchronous) through REST's
Redis fast path, which stores the REST answer; the mutation then shows the exact
version of the object that answer names, read from the event store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from paysource.adapters.postgres.reads import Row
from paysource.application.errors import Forbidden, NotFound
from paysource.application.fastpath import Answer
from paysource.application.ids import Kind, decode
from paysource.bootstrap import Cell
from paysource.domain.meta import Meta
from paysource.domain.payment import Payment as PaymentAggregate
from paysource.domain.refund import Refund as RefundAggregate
from paysource.entrypoints.http.graphql import history
from paysource.entrypoints.http.graphql.context import Context
from paysource.entrypoints.http.graphql.results import PaymentPayload, RefundPayload
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.graphql.types.refund import Refund


def writer(context: Context) -> tuple[UUID, Cell]:
    """The merchant a command acts for, and its cell; Forbidden for anyone else."""
    access = context.access
    if access.customer_id is not None:
        raise Forbidden("a customer token can read, not change anything")
    merchant_id = access.principal.require_merchant()
    return merchant_id, context.container.router.for_merchant(merchant_id)


@dataclass(frozen=True, slots=True)
class Command:
    context: Context
    merchant_id: UUID
    cell: Cell
    key: str | None
    request_hash: str

    @classmethod
    def of(cls, context: Context, key: str | None, request_hash: str) -> Command:
        merchant_id, cell = writer(context)
        return cls(context, merchant_id, cell, key, request_hash)

    def meta(self) -> Meta:
        return self.context.meta(idempotency_key=self.key)

    async def payment(self, run: Callable[[], Answer]) -> PaymentPayload:
        answer, row = await run_in_threadpool(self._answer, run, _payment_row)
        return PaymentPayload(payment=Payment.from_row(row), replayed=answer.replayed)

    async def refund(self, run: Callable[[], Answer]) -> RefundPayload:
        answer, row = await run_in_threadpool(self._answer, run, _refund_row)
        return RefundPayload(refund=Refund.from_row(row), replayed=answer.replayed)

    def _answer(
        self, run: Callable[[], Answer], load: Callable[[Cell, Answer], Row | None]
    ) -> tuple[Answer, Row]:
        answer = self.context.services.fast_path.answer(
            scope=str(self.merchant_id),
            key=self.context.digest(self.key),  # Redis keeps no plaintext key either
            request_hash=self.request_hash,
            command=run,
        )
        row = load(self.cell, answer)
        if row is None:
            raise NotFound("the object of this answer is gone")  # cannot happen: events stay
        return answer, row


def _payment_row(cell: Cell, answer: Answer) -> Row | None:
    payment_id = decode(Kind.PAYMENT, answer.body["id"])
    payment = cell.store.get(payment_id, PaymentAggregate, version=answer.body["version"])
    return None if payment is None else history.payment_row(payment)


def _refund_row(cell: Cell, answer: Answer) -> Row | None:
    refund_id = decode(Kind.REFUND, answer.body["id"])
    refund = cell.store.get(refund_id, RefundAggregate, version=answer.body["version"])
    payment = None if refund is None else cell.store.get(refund.payment_id, PaymentAggregate)
    if refund is None or payment is None:
        return None
    return history.refund_row(refund, customer_id=payment.customer_id)
