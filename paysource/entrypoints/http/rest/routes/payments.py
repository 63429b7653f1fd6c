"""Payments: create (202, authorized by the worker), read, list, capture, cancel, history."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from paysource.application import representations as rep
from paysource.application.deadlines import extend_budget
from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.ids import Kind, decode
from paysource.application.payments import MAX_HISTORY_EVENTS, NewPayment
from paysource.application.relay_resolution import Resolution, fast_path_scope
from paysource.bootstrap import Cell
from paysource.domain.api_key import Role
from paysource.domain.payment import Payment, PaymentStatus, RelayAction
from paysource.entrypoints.http.inputs import CancelIn, CaptureIn, PaymentIn, ResolveRelayIn
from paysource.entrypoints.http.rest.deps import (
    AnyCall,
    MerchantCall,
    MerchantCallDep,
    MerchantCommandDep,
    digest_of,
    required_key,
)
from paysource.entrypoints.http.rest.lists import ListedWithMetadata
from paysource.entrypoints.http.rest.moments import AsOf, loader
from paysource.entrypoints.http.rest.routes.common import listing, owned, reader, respond
from paysource.entrypoints.http.rest.schemas import EventList, PaymentList, PaymentOut

router = APIRouter(prefix="/v1", tags=["payments"])

Status = Literal["processing", "requires_capture", "succeeded", "failed", "canceled"]


@router.post(
    "/payments",
    status_code=202,
    response_model=PaymentOut,
    summary="Create a payment",
    description="Records the payment as `processing` and answers 202 at once; the worker "
    "runs risk rules, asks the acquirer and captures if `capture_method=automatic`. "
    "Send `Prefer: wait=N` to wait up to N seconds for the outcome (then 200): a final "
    "status, or `requires_capture` for a manual capture. "
    "`Idempotency-Key` is required.",
)
async def create_payment(body: PaymentIn, call: MerchantCommandDep) -> JSONResponse:
    key = required_key(call.context)
    request_hash = fingerprint("POST", "/v1/payments", body.fingerprint_body())
    wait_s = call.context.prefer_wait_s

    def creation() -> NewPayment:
        return body.command(call.merchant_id, key, request_hash, call.meta)

    def command() -> Answer:
        outcome = call.cell.payments.create_payment(creation())
        # A replay of a creation that waited shows what the wait saw (create_payment).
        return rep.payment_created(outcome.value, outcome.replayed)

    async def awaiting() -> Answer:
        outcome = await call.cell.payments.create_payment_awaiting(creation())
        if outcome is None:  # not the plain case: the command, in a thread
            return await run_in_threadpool(command)
        return rep.payment_created(outcome.value, outcome.replayed)

    async def recorded() -> Answer | None:
        outcome = await run_in_threadpool(
            call.cell.payments.replayed_creation, call.merchant_id, key, request_hash
        )
        return None if outcome is None else rep.payment_created(outcome.value, replayed=True)

    if wait_s == 0:
        # No thread for the common case (bench/README.md, "The floor").
        answer = await call.answer_async(request_hash, command, awaiting, recorded, key=key)
        return respond(answer)
    answer = await run_in_threadpool(call.answer, request_hash, command, key=key, hold_s=wait_s)
    if answer.replayed:
        return respond(answer)
    payment = await _waited(call.cell, answer, wait_s)
    answer = await run_in_threadpool(_remembered, call, payment, key, request_hash)
    return respond(answer, headers={"Preference-Applied": f"wait={wait_s}"})


def creation_route() -> APIRoute:
    """`create_payment`'s route, which `rest/direct.py` calls past FastAPI's routing."""
    (route,) = (
        r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is create_payment
    )
    return route


def _remembered(call: MerchantCall, payment: Payment, key: str, request_hash: str) -> Answer:
    """Record what the wait saw as the answer to `key` (or the one recorded first), in
    Postgres and on the fast path: replays give exactly this answer."""
    recorded = call.cell.payments.record_answer(
        payment=payment, request_hash=request_hash, meta=call.meta
    )
    answer = rep.payment_created(recorded)
    scope = str(call.merchant_id)
    slot = digest_of(key, call.container)  # the same keyed hash the first answer used
    assert slot is not None  # a key was given: only keyed requests are remembered
    call.fast_path.remember(scope=scope, key=slot, request_hash=request_hash, answer=answer)
    return answer


async def _waited(cell: Cell, answer: Answer, wait_s: int) -> Payment:
    """Poll the event store (without holding a thread) until the pipeline is done with
    the payment (a final status, or requires_capture for a manual capture) or out of time."""
    payment_id = decode(Kind.PAYMENT, answer.body["id"])
    merchant_id = decode(Kind.MERCHANT, answer.body["merchant"])
    deadline = time.monotonic() + wait_s
    extend_budget(wait_s)  # the wait asked for, on top of the database budget
    delay = 0.01
    while True:
        payment = await run_in_threadpool(
            cell.payments.get_payment, merchant_id=merchant_id, payment_id=payment_id
        )
        remaining = deadline - time.monotonic()
        if payment.status != PaymentStatus.PROCESSING or remaining <= 0:
            return payment
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.2)


@router.get("/payments/{payment_id}", response_model=PaymentOut, summary="Get a payment")
def get_payment(payment_id: str, call: AnyCall, as_of: AsOf = None) -> JSONResponse:
    """Served from the event store: the latest committed state, read-your-writes
    (or, with `as_of`, the state its events up to then left)."""
    uuid = decode(Kind.PAYMENT, payment_id)
    payment = owned(
        call,
        "payment",
        uuid,
        loader(
            as_of,
            Payment,
            lambda cell, uuid: cell.payments.get_payment(merchant_id=None, payment_id=uuid),
        ),
    )
    return respond(Answer(200, rep.payment(payment)))


@router.get("/payments", response_model=PaymentList, summary="List payments, newest first")
def list_payments(
    call: AnyCall,
    params: ListedWithMetadata,
    *,
    status: Status | None = None,
    customer: Annotated[str | None, Query(max_length=100)] = None,
    relay_failed: Annotated[
        bool | None,
        Query(description="Only payments with (true) or without (false) relay failures"),
    ] = None,
) -> JSONResponse:
    """From the `payments` read model (eventually consistent, usually within ms)."""
    read = reader(call, call.principal.merchant_id)
    page = read.payments(
        params.window(read, Kind.PAYMENT, "payment"),
        status=status,
        customer_id=decode(Kind.CUSTOMER, customer) if customer else None,
        relay_failed=relay_failed,
    )
    rows = [rep.payment_row(row) for row in page.rows]
    return respond(Answer(200, listing(rows, has_more=page.has_more)))


@router.post(
    "/payments/{payment_id}/capture",
    response_model=PaymentOut,
    summary="Capture an authorized payment, in full or in part (once; the rest is released)",
)
def capture_payment(
    payment_id: str, call: MerchantCallDep, body: CaptureIn | None = None
) -> JSONResponse:
    body = body or CaptureIn()
    uuid = decode(Kind.PAYMENT, payment_id)
    path = f"/v1/payments/{payment_id}/capture"
    request_hash = fingerprint("POST", path, body.fingerprint_body())

    def command() -> Answer:
        outcome = call.cell.payments.capture_payment(
            merchant_id=call.merchant_id,
            payment_id=uuid,
            amount=body.amount,
            idempotency_key=call.context.idempotency_key,
            request_hash=request_hash,
            meta=call.meta,
        )
        return Answer(200, rep.payment(outcome.value), outcome.replayed)

    return respond(call.answer(request_hash, command))


@router.post(
    "/payments/{payment_id}/cancel",
    response_model=PaymentOut,
    summary="Cancel an uncaptured payment (releases the hold)",
)
def cancel_payment(
    payment_id: str, call: MerchantCallDep, body: CancelIn | None = None
) -> JSONResponse:
    uuid = decode(Kind.PAYMENT, payment_id)
    path = f"/v1/payments/{payment_id}/cancel"
    request_hash = fingerprint("POST", path, (body or CancelIn()).fingerprint_body())

    def command() -> Answer:
        outcome = call.cell.payments.cancel_payment(
            merchant_id=call.merchant_id,
            payment_id=uuid,
            idempotency_key=call.context.idempotency_key,
            request_hash=request_hash,
            meta=call.meta,
        )
        return Answer(200, rep.payment(outcome.value), outcome.replayed)

    return respond(call.answer(request_hash, command))


@router.post(
    "/payments/{payment_id}/resolve_relay",
    response_model=PaymentOut,
    summary="Resolve a capture the acquirer refused: retry it, or reverse it (admin)",
    description="`retry` asks the acquirer to capture again: the settlement hold lifts if "
    "it does, and stays (with the refusal recorded) if not. `reverse` takes the capture "
    "and its fee out of the books for good; if a settlement already paid it out, a "
    "`correction` debit goes into the merchant's next one. `Idempotency-Key` is required.",
)
def resolve_relay(payment_id: str, body: ResolveRelayIn, call: AnyCall) -> JSONResponse:
    call.principal.require(Role.ADMIN)
    key = required_key(call.context)
    uuid = decode(Kind.PAYMENT, payment_id)
    path = f"/v1/payments/{payment_id}/resolve_relay"
    request_hash = fingerprint("POST", path, body.fingerprint_body())
    resolution = Resolution(uuid, RelayAction(body.action), body.reason)

    def command() -> Answer:
        outcome = call.container.relay_resolution(uuid).resolve(
            resolution, idempotency_key=key, request_hash=request_hash, meta=call.meta
        )
        return Answer(200, rep.payment(outcome.value), outcome.replayed)

    answer = call.fast_path.answer(
        scope=fast_path_scope(uuid),
        key=digest_of(key, call.container),
        request_hash=request_hash,
        command=command,
    )
    return respond(answer)


@router.get(
    "/payments/{payment_id}/events",
    response_model=EventList,
    summary="The payment's full event history: type, version, time, data, who acted",
)
def payment_events(payment_id: str, call: AnyCall) -> JSONResponse:
    uuid = decode(Kind.PAYMENT, payment_id)
    # Its first event says whose it is; then the whole history, from the same cell.
    first = owned(
        call,
        "payment",
        uuid,
        lambda cell, uuid: cell.payments.get_payment(merchant_id=None, payment_id=uuid, version=1),
    )
    cell = call.container.router.for_merchant(first.merchant_id)
    events = cell.store.history(uuid, limit=MAX_HISTORY_EVENTS)
    return respond(Answer(200, listing([rep.event(e) for e in events], has_more=False)))
