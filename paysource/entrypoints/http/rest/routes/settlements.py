"""Settlements: closed on a schedule or on demand, paid out by the worker."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, Field

from paysource.application import representations as rep
from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.ids import Kind, decode
from paysource.application.settlements import check_cutoff
from paysource.domain.api_key import Role
from paysource.domain.settlement import Settlement
from paysource.entrypoints.http.inputs import Body, Currency, ExternalId
from paysource.entrypoints.http.rest.deps import AnyCall
from paysource.entrypoints.http.rest.lists import Listed
from paysource.entrypoints.http.rest.moments import AsOf, loader
from paysource.entrypoints.http.rest.routes.common import (
    listing,
    merchant_scope,
    owned,
    reader,
    respond,
)

router = APIRouter(prefix="/v1", tags=["settlements"])

Status = Literal[
    "open", "awaiting_rate", "closed", "paid", "failed", "carried_forward", "superseded"
]


class SettlementIn(Body):
    merchant: ExternalId
    currency: Currency
    # JSON has no datetime type: parse the ISO 8601 string (strict mode would refuse it).
    until: Annotated[AwareDatetime, Field(strict=False)]


@router.post(
    "/settlements",
    status_code=201,
    summary="Close a settlement now (admin, finance)",
    description="Settles the merchant's captures and refunds in `currency` up to `until` "
    "(an ISO 8601 time with a zone). One settlement per merchant, currency and cut-off: "
    "asking again for the same cut-off returns it (200). The worker pays it out. A replay "
    "with the same Idempotency-Key answers as the first request did (its status, and the "
    "settlement as it left it); that key with another body is 422 `idempotency_key_reused`.",
)
def close_settlement(body: SettlementIn, call: AnyCall) -> JSONResponse:
    call.principal.require(Role.ADMIN, Role.FINANCE)
    merchant_id = decode(Kind.MERCHANT, body.merchant)
    call.container.merchants.get_merchant(merchant_id)
    cell = call.container.router.for_write(merchant_id)
    until = check_cutoff(body.until, call.container.clock.now())
    outcome = cell.settlements.close(
        merchant_id=merchant_id,
        currency=body.currency,
        until=until,
        meta=call.meta,
        idempotency_key=call.context.idempotency_key,
        request_hash=fingerprint("POST", "/v1/settlements", body.fingerprint_body()),
    )
    status = 201 if outcome.closed else 200
    return respond(Answer(status, rep.settlement(outcome.value), outcome.replayed))


@router.get("/settlements", summary="List settlements, newest first")
def list_settlements(
    call: AnyCall,
    params: Listed,
    status: Status | None = None,
    merchant: Annotated[str | None, Query(max_length=100)] = None,
) -> JSONResponse:
    read = reader(call, merchant_scope(call, merchant))
    page = read.settlements(params.window(read, Kind.SETTLEMENT, "settlement"), status=status)
    rows = [rep.settlement_row(row) for row in page.rows]
    return respond(Answer(200, listing(rows, has_more=page.has_more)))


@router.get("/settlements/{settlement_id}", summary="A settlement with its items")
def get_settlement(settlement_id: str, call: AnyCall, as_of: AsOf = None) -> JSONResponse:
    uuid = decode(Kind.SETTLEMENT, settlement_id)
    found = owned(
        call,
        "settlement",
        uuid,
        loader(
            as_of,
            Settlement,
            lambda cell, uuid: cell.settlements.get(merchant_id=None, settlement=uuid),
        ),
    )
    return respond(Answer(200, rep.settlement(found)))
