"""`resolveRelay`: an operator resolves a refused capture, as POST
/v1/payments/{id}/resolve_relay does (same fingerprint, fast path and service)."""

from __future__ import annotations

from enum import Enum

import strawberry
from starlette.concurrency import run_in_threadpool

from paysource.application import representations as rep
from paysource.application.fastpath import Answer
from paysource.application.idempotency import Outcome, fingerprint
from paysource.application.ids import Kind, decode
from paysource.application.relay_resolution import Resolution, fast_path_scope
from paysource.application.results import PaymentState
from paysource.domain.api_key import Role
from paysource.domain.idempotency import check_idempotency_key
from paysource.domain.payment import RelayAction as DomainRelayAction
from paysource.entrypoints.http.graphql import history
from paysource.entrypoints.http.graphql.context import Context
from paysource.entrypoints.http.graphql.results import PaymentPayload
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.inputs import ResolveRelayIn


@strawberry.enum
class RelayAction(Enum):
    RETRY = "retry"
    REVERSE = "reverse"


async def resolve_relay(
    context: Context, payment: str, action: RelayAction, reason: str, idempotency_key: str
) -> PaymentPayload:
    context.access.principal.require(Role.ADMIN)
    payment_id = decode(Kind.PAYMENT, payment)
    body = ResolveRelayIn.model_validate({"action": action.value, "reason": reason})
    path = f"/v1/payments/{payment}/resolve_relay"
    request_hash = fingerprint("POST", path, body.fingerprint_body())
    key = check_idempotency_key(idempotency_key)
    resolution = Resolution(payment_id, DomainRelayAction(body.action), body.reason)

    def run() -> Outcome[PaymentState]:
        return context.container.relay_resolution(payment_id).resolve(
            resolution,
            idempotency_key=key,
            request_hash=request_hash,
            meta=context.meta(idempotency_key=key),
        )

    def once() -> Outcome[PaymentState]:
        ran: list[Outcome[PaymentState]] = []

        def command() -> Answer:
            ran.append(run())
            return Answer(200, rep.payment(ran[0].value), ran[0].replayed)

        context.services.fast_path.answer(
            # REST's scope: one key, one answer, whichever API asked.
            scope=fast_path_scope(payment_id),
            key=context.digest(key),
            request_hash=request_hash,
            command=command,
        )
        # Redis answered for an earlier request: the event store replays that answer.
        return ran[0] if ran else run()

    outcome = await run_in_threadpool(once)
    return PaymentPayload(
        payment=Payment.from_row(history.payment_row(outcome.value)), replayed=outcome.replayed
    )
