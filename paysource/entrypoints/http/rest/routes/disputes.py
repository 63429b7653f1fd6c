"""Disputes (chargebacks): merchants read them and answer with evidence; admins open
and decide them, standing in for the acquirer (docs/disputes.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from paysource.application import representations as rep
from paysource.application.disputes import SOURCE_ADMIN
from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.ids import Kind, decode
from paysource.domain.api_key import Role
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.entrypoints.http.dispute_inputs import DisputeIn, DisputeOutcomeIn, EvidenceIn
from paysource.entrypoints.http.rest.deps import AnyCall, MerchantCallDep, required_key
from paysource.entrypoints.http.rest.lists import Listed
from paysource.entrypoints.http.rest.moments import AsOf, loader
from paysource.entrypoints.http.rest.routes.common import (
    listing,
    merchant_scope,
    owned,
    reader,
    respond,
)

router = APIRouter(prefix="/v1", tags=["disputes"])

Status = Literal["needs_response", "under_review", "won", "lost"]


def _owned(call: AnyCall, dispute_id: str, as_of: AsOf = None) -> Dispute:
    latest = lambda cell, uuid: cell.disputes.get(merchant_id=None, dispute=uuid)  # noqa: E731
    load = loader(as_of, Dispute, latest)
    return owned(call, "dispute", decode(Kind.DISPUTE, dispute_id), load)


@router.get("/disputes", summary="List disputes, newest first")
def list_disputes(
    call: AnyCall,
    params: Listed,
    status: Status | None = None,
    payment: Annotated[str | None, Query(max_length=100)] = None,
    merchant: Annotated[str | None, Query(max_length=100)] = None,
) -> JSONResponse:
    read = reader(call, merchant_scope(call, merchant))
    payment_id = decode(Kind.PAYMENT, payment) if payment is not None else None
    window = params.window(read, Kind.DISPUTE, "dispute")
    page = read.disputes(window, status=status, payment_id=payment_id)
    rows = [rep.dispute_row(row) for row in page.rows]
    return respond(Answer(200, listing(rows, has_more=page.has_more)))


@router.get("/disputes/{dispute_id}", summary="Get a dispute, with its evidence")
def get_dispute(dispute_id: str, call: AnyCall, as_of: AsOf = None) -> JSONResponse:
    return respond(Answer(200, rep.dispute(_owned(call, dispute_id, as_of))))


@router.get(
    "/disputes/{dispute_id}/events",
    summary="The dispute's full event history: type, version, time, data, who acted",
)
def dispute_events(dispute_id: str, call: AnyCall) -> JSONResponse:
    found = _owned(call, dispute_id)
    cell = call.container.router.for_merchant(found.merchant_id)
    events = cell.disputes.history(dispute=found.id)
    return respond(Answer(200, listing([rep.event(e) for e in events], has_more=False)))


@router.post(
    "/disputes/{dispute_id}/evidence",
    summary="Answer a dispute with evidence (text fields; once, before its due date)",
    description="Moves the dispute from `needs_response` to `under_review`. "
    "`Idempotency-Key` is required.",
)
def submit_evidence(dispute_id: str, body: EvidenceIn, call: MerchantCallDep) -> JSONResponse:
    key = required_key(call.context)
    uuid = decode(Kind.DISPUTE, dispute_id)
    path = f"/v1/disputes/{dispute_id}/evidence"
    request_hash = fingerprint("POST", path, body.fingerprint_body())

    def command() -> Answer:
        outcome = call.cell.disputes.submit_evidence(
            merchant_id=call.merchant_id,
            dispute=uuid,
            evidence=body.evidence(),
            idempotency_key=key,
            request_hash=request_hash,
            meta=call.meta,
        )
        return Answer(200, rep.dispute(outcome.value), outcome.replayed)

    # The answer quotes the customer: never to Redis, where erasure could not reach it.
    return respond(call.answer(request_hash, command, key=key, keep_body=False))


@router.post(
    "/disputes",
    status_code=201,
    summary="Open a dispute of a captured payment (admin, standing in for the acquirer)",
    description="Takes the disputed amount (default: all captured and not refunded) and "
    "the dispute fee from the merchant's balance at once. One dispute per payment.",
)
def open_dispute(body: DisputeIn, call: AnyCall) -> JSONResponse:
    call.principal.require(Role.ADMIN)
    payment_id = decode(Kind.PAYMENT, body.payment)
    payment = owned(
        call,
        "payment",
        payment_id,
        lambda cell, uuid: cell.payments.get_payment(merchant_id=None, payment_id=uuid),
    )
    cell = call.container.router.for_write(payment.merchant_id)
    outcome = cell.disputes.open_dispute(
        payment_id=payment_id,
        amount=body.amount,
        reason=DisputeReason(body.reason),
        source=SOURCE_ADMIN,
        idempotency_key=call.context.idempotency_key,
        request_hash=fingerprint("POST", "/v1/disputes", body.fingerprint_body()),
        meta=call.meta,
    )
    status = 200 if outcome.replayed else 201
    return respond(Answer(status, rep.dispute(outcome.value), outcome.replayed))


@router.post(
    "/disputes/{dispute_id}/close",
    summary="Decide a dispute, won or lost (admin, standing in for the acquirer)",
    description="The same decision again answers the dispute (200, `Idempotent-Replayed`); "
    "the other one is 409 `dispute_closed`. A replay with the same Idempotency-Key answers "
    "the dispute as that decision left it; that key with the other outcome, or on another "
    "dispute, is 422 `idempotency_key_reused`.",
)
def close_dispute(dispute_id: str, body: DisputeOutcomeIn, call: AnyCall) -> JSONResponse:
    call.principal.require(Role.ADMIN)
    found = _owned(call, dispute_id)
    cell = call.container.router.for_write(found.merchant_id)
    outcome = cell.disputes.decide(
        dispute=found.id,
        won=body.outcome == "won",
        outcome_reason="acquirer_decision",
        meta=call.meta,
        idempotency_key=call.context.idempotency_key,
        # The path names the dispute: the same key on another dispute is another request.
        request_hash=fingerprint("POST", f"/v1/disputes/{found.id}/close", body.fingerprint_body()),
    )
    return respond(Answer(200, rep.dispute(outcome.value), outcome.replayed))
