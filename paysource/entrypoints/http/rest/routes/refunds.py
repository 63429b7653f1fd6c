"""Refunds: created pending (the worker asks the acquirer), then read."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from paysource.application import representations as rep
from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.ids import Kind, decode
from paysource.domain.refund import Refund, RefundReason
from paysource.entrypoints.http.inputs import RefundIn
from paysource.entrypoints.http.rest.deps import AnyCall, MerchantCallDep, required_key
from paysource.entrypoints.http.rest.lists import Listed
from paysource.entrypoints.http.rest.moments import AsOf, loader
from paysource.entrypoints.http.rest.routes.common import listing, owned, reader, respond
from paysource.entrypoints.http.rest.schemas import RefundList, RefundOut

router = APIRouter(prefix="/v1", tags=["refunds"])


@router.post(
    "/refunds",
    status_code=202,
    response_model=RefundOut,
    summary="Refund all or part of a captured payment",
    description="Reserves the amount on the payment at once (so refunds can never exceed "
    "the capture, whatever the concurrency) and answers 202 with the refund `pending`; "
    "the worker sends it to the acquirer. `Idempotency-Key` is required.",
)
def create_refund(body: RefundIn, call: MerchantCallDep) -> JSONResponse:
    key = required_key(call.context)
    request_hash = fingerprint("POST", "/v1/refunds", body.fingerprint_body())
    payment_id = decode(Kind.PAYMENT, body.payment)

    def command() -> Answer:
        outcome = call.cell.refunds.create_refund(
            merchant_id=call.merchant_id,
            payment_id=payment_id,
            amount=body.amount,
            reason=RefundReason(body.reason) if body.reason else None,
            idempotency_key=key,
            request_hash=request_hash,
            meta=call.meta,
        )
        return Answer(202, rep.refund(outcome.value), outcome.replayed)

    return respond(call.answer(request_hash, command, key=key))


@router.get("/refunds", response_model=RefundList, summary="List refunds, newest first")
def list_refunds(call: AnyCall, params: Listed) -> JSONResponse:
    """From the `payments` read model (eventually consistent, usually within ms): a
    merchant's own refunds; staff roles see every merchant's."""
    read = reader(call, call.principal.merchant_id)
    page = read.refunds(params.window(read, Kind.REFUND, "refund"))
    rows = [rep.refund_row(row) for row in page.rows]
    return respond(Answer(200, listing(rows, has_more=page.has_more)))


@router.get("/refunds/{refund_id}", response_model=RefundOut, summary="Get a refund")
def get_refund(refund_id: str, call: AnyCall, as_of: AsOf = None) -> JSONResponse:
    uuid = decode(Kind.REFUND, refund_id)
    refund = owned(
        call,
        "refund",
        uuid,
        loader(
            as_of,
            Refund,
            lambda cell, uuid: cell.refunds.get_refund(merchant_id=None, refund_id=uuid),
        ),
    )
    return respond(Answer(200, rep.refund(refund)))
