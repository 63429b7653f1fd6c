"""Running a mutation's command: who may, the idempotency fast path, the result.

Commands run in a thread (the application layer is synchronous) through the Redis
fast path REST uses, which keeps the public JSON of the first answer, so one key
replays one answer whichever API sent it first. The mutation shows the command's
result (`application.results`) through its GraphQL type, as REST renders it once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from paysource.application import representations as rep
from paysource.application.errors import Forbidden
from paysource.application.fastpath import Answer
from paysource.application.idempotency import Outcome
from paysource.application.results import PaymentState, RefundState
from paysource.bootstrap import Cell
from paysource.domain.meta import Meta
from paysource.entrypoints.http.graphql import history
from paysource.entrypoints.http.graphql.context import Context
from paysource.entrypoints.http.graphql.results import PaymentPayload, RefundPayload
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.graphql.types.refund import Refund

S = TypeVar("S")


def writer(context: Context) -> tuple[UUID, Cell]:
    """The merchant a command acts for, and its cell; Forbidden for anyone else."""
    merchant_id = _writing_merchant(context)
    return merchant_id, context.container.router.for_write(merchant_id)


async def check_writer(context: Context) -> None:
    """`writer`'s checks, for a resolver on the event loop: the merchant's placement is
    looked up in a thread when this second's is gone (the directory may be slow or
    down), so the `writer` that follows finds it in memory."""
    merchant_id = _writing_merchant(context)
    router = context.container.router
    if router.known(merchant_id, write=True) is None:
        await run_in_threadpool(router.for_write, merchant_id)


def _writing_merchant(context: Context) -> UUID:
    access = context.access
    if access.customer_id is not None:
        raise Forbidden("a customer token can read, not change anything")
    return access.principal.require_merchant()


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

    async def payment(
        self, run: Callable[[], Outcome[PaymentState]], *, status: int
    ) -> PaymentPayload:
        return await self._payment(run, _answering(status, rep.payment))

    async def created_payment(self, run: Callable[[], Outcome[PaymentState]]) -> PaymentPayload:
        """As `payment`, with REST's answer to a creation: its status is the state's."""
        return await self._payment(run, rep.payment_created)

    async def _payment(
        self,
        run: Callable[[], Outcome[PaymentState]],
        answer: Callable[[PaymentState, bool], Answer],
    ) -> PaymentPayload:
        outcome = await run_in_threadpool(self._outcome, run, answer)
        payment = Payment.from_row(history.payment_row(outcome.value))
        return PaymentPayload(payment=payment, replayed=outcome.replayed)

    async def refund(self, run: Callable[[], Outcome[RefundState]]) -> RefundPayload:
        outcome = await run_in_threadpool(self._outcome, run, _answering(202, rep.refund))
        state = outcome.value
        refund = Refund.from_row(history.refund_row(state, customer_id=state.customer_id))
        return RefundPayload(refund=refund, replayed=outcome.replayed)

    def _outcome(
        self, run: Callable[[], Outcome[S]], answer: Callable[[S, bool], Answer]
    ) -> Outcome[S]:
        """Run the command once through the fast path, storing the answer REST gives."""
        ran: list[Outcome[S]] = []

        def command() -> Answer:
            outcome = run()
            ran.append(outcome)
            return answer(outcome.value, outcome.replayed)

        self.context.services.fast_path.answer(
            scope=str(self.merchant_id),
            key=self.context.digest(self.key),  # Redis keeps no plaintext key either
            request_hash=self.request_hash,
            command=command,
        )
        if ran:
            return ran[0]
        # Redis answered for an earlier request with this key and input: the event store
        # replays that same answer (the object at the version it left, or as a creation
        # that waited saw it).
        return run()


def _answering(status: int, render: Callable[[S], dict[str, Any]]) -> Callable[[S, bool], Answer]:
    """REST's answer for a command whose status does not depend on its result."""
    return lambda value, replayed: Answer(status, render(value), replayed)
