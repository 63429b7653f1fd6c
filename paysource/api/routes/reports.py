"""Finance reports and balances: JSON, or CSV with `Accept: text/csv`.

A merchant key reads its own reports; finance, auditor and admin keys read any
merchant's (and the daily volume of all merchants at once).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from paysource.api import representations as rep
from paysource.api.deps import AnyCall, Call
from paysource.api.ids import Kind, decode, encode
from paysource.api.problems import Problem
from paysource.api.routes.common import listing
from paysource.application.errors import NotFound
from paysource.bootstrap import Cell
from paysource.domain.api_key import Role
from paysource.projections import reports

router = APIRouter(prefix="/v1", tags=["reports"])

From = Annotated[date, Query(alias="from", description="first UTC day, YYYY-MM-DD")]
To = Annotated[date, Query(alias="to", description="last UTC day (inclusive)")]
MerchantParam = Annotated[str | None, Query(max_length=100)]
CurrencyParam = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")]


def _scope(call: Call, merchant: str | None) -> UUID | None:
    """Whose data: a merchant's own, or (staff) the one asked for, or None for all."""
    principal = call.principal
    if principal.merchant_id is not None:
        if merchant is not None and decode(Kind.MERCHANT, merchant) != principal.merchant_id:
            raise NotFound("no such merchant")
        return principal.merchant_id
    principal.require(Role.FINANCE, Role.AUDITOR, Role.ADMIN)
    return decode(Kind.MERCHANT, merchant) if merchant is not None else None


def _cells(call: Call, merchant_id: UUID | None) -> list[Cell]:
    if merchant_id is None:
        return call.container.router.all()
    if merchant_id != call.principal.merchant_id:
        call.container.merchants.get_merchant(merchant_id)  # staff asked: must exist
    return [call.container.router.for_merchant(merchant_id)]


def _wants_csv(request: Request) -> bool:
    return "text/csv" in request.headers.get("accept", "")


def _csv(columns: tuple[str, ...], rows: list[list[Any]]) -> Response:
    return PlainTextResponse(reports.to_csv(columns, rows), media_type="text/csv")


def _range(since: date, until: date) -> None:
    try:
        reports.check_range(since, until)
    except reports.ReportRangeError as error:
        raise Problem(
            422, "validation_error", str(error), errors=[{"field": "to", "message": str(error)}]
        ) from None


@router.get("/reports/daily-volume", summary="Captures, refunds, fees and net per day")
def daily_volume(
    request: Request,
    call: AnyCall,
    *,
    since: From,
    until: To,
    currency: CurrencyParam = None,
    merchant: MerchantParam = None,
) -> Response:
    _range(since, until)
    merchant_id = _scope(call, merchant)
    rows = [
        rep.daily_volume_row(row)
        for cell in _cells(call, merchant_id)
        for row in reports.daily_volume(
            cell.read.finance,
            merchant_id=merchant_id,
            since=since,
            until=until,
            currency=currency.upper() if currency else None,
        )
    ]
    if _wants_csv(request):
        columns = rep.DAILY_VOLUME_COLUMNS
        return _csv(columns, [[row[c] for c in columns] for row in rows])
    return JSONResponse(listing(rows, has_more=False))


@router.get(
    "/reports/statement",
    summary="A merchant's statement: opening balance, every movement, closing balance",
)
def statement(
    request: Request, call: AnyCall, since: From, until: To, merchant: MerchantParam = None
) -> Response:
    _range(since, until)
    merchant_id = _scope(call, merchant)
    if merchant_id is None:
        raise Problem(
            422,
            "validation_error",
            "a statement is for one merchant: pass `merchant`",
            errors=[{"field": "merchant", "message": "required for this key"}],
        )
    (cell,) = _cells(call, merchant_id)
    try:
        body = rep.statement(
            reports.statement(cell.read.ledger, merchant_id=merchant_id, since=since, until=until)
        )
    except ValueError as error:
        raise Problem(422, "validation_error", str(error)) from None
    if _wants_csv(request):
        return _csv(rep.STATEMENT_COLUMNS, rep.statement_rows(body))
    return JSONResponse(body)


@router.get("/balance", summary="Pending, available and paid-out balance per currency")
def balance(call: AnyCall, merchant: MerchantParam = None) -> JSONResponse:
    merchant_id = _scope(call, merchant)
    if merchant_id is None:
        raise Problem(422, "validation_error", "pass `merchant` with a staff key")
    (cell,) = _cells(call, merchant_id)
    rows = cell.read.ledger.balances(merchant_id)
    return JSONResponse(
        {
            "object": "balance",
            "merchant": encode(Kind.MERCHANT, merchant_id),
            "available": [
                {"amount": r["available_minor"], "currency": r["currency"]} for r in rows
            ],
            "pending": [{"amount": r["pending_minor"], "currency": r["currency"]} for r in rows],
            "paid_out": [{"amount": r["paid_out_minor"], "currency": r["currency"]} for r in rows],
        }
    )
