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
from pydantic import AfterValidator, BeforeValidator

from paysource.application.ids import Kind, encode
from paysource.domain.currency import exponent
from paysource.entrypoints import reports as rep
from paysource.entrypoints.http.problems import Problem
from paysource.entrypoints.http.rest.deps import AnyCall, Call
from paysource.entrypoints.http.rest.moments import AsOf
from paysource.entrypoints.http.rest.routes.common import listing, merchant_scope, reader
from paysource.readmodels import reports
from paysource.readmodels.reader import Reader

router = APIRouter(prefix="/v1", tags=["reports"])


def _day(value: object) -> date:
    # pydantic alone would also take a datetime or a Unix timestamp here.
    if not isinstance(value, str):
        raise ValueError("a day is written YYYY-MM-DD (UTC)")
    return reports.parse_day(value)


From = Annotated[
    date,
    BeforeValidator(_day),
    Query(alias="from", description="first UTC day, YYYY-MM-DD"),
]
To = Annotated[
    date, BeforeValidator(_day), Query(alias="to", description="last UTC day (inclusive)")
]
MerchantParam = Annotated[str | None, Query(max_length=100)]


def _currency(value: str | None) -> str | None:
    # An unknown code would answer an empty report, which reads as no volume.
    if value is not None and exponent(value.upper()) is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


CurrencyParam = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$"), AfterValidator(_currency)]


def _reader(call: Call, merchant_id: UUID | None) -> Reader:
    """Reads of `merchant_id` (from merchant_scope: the caller's own, or one a staff
    role asked for, which must exist; None: every merchant's)."""
    if merchant_id is not None and merchant_id != call.principal.merchant_id:
        call.container.merchants.get_merchant(merchant_id)  # staff asked: must exist
    return reader(call, merchant_id)


def _wants_csv(request: Request) -> bool:
    """CSV when the client prefers it to JSON (RFC 9110 quality values); JSON on a tie."""
    ranges = _media_ranges(request.headers.get("accept", ""))
    return _quality(ranges, "text", "csv") > _quality(ranges, "application", "json")


def _media_ranges(accept: str) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for part in accept.split(",")[:_MAX_RANGES]:
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        if media:
            ranges[media.lower()] = quality
    return ranges


def _quality(ranges: dict[str, float], kind: str, subtype: str) -> float:
    # The most specific range that matches decides.
    for media in (f"{kind}/{subtype}", f"{kind}/*", "*/*"):
        if media in ranges:
            return ranges[media]
    return 0.0


_MAX_RANGES = 32


def _csv(columns: tuple[str, ...], rows: list[list[Any]]) -> Response:
    return PlainTextResponse(reports.to_csv(columns, rows), media_type="text/csv")


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
    reports.check_range(since, until)
    merchant_id = merchant_scope(call, merchant)
    rows = [
        rep.daily_volume_row(row)
        for row in reports.daily_volume(
            [cell.read.finance for cell in _reader(call, merchant_id).cells],
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
    reports.check_range(since, until)
    merchant_id = merchant_scope(call, merchant)
    if merchant_id is None:
        raise Problem(
            422,
            "validation_error",
            "a statement is for one merchant: pass `merchant`",
            errors=[{"field": "merchant", "message": "required for this key"}],
        )
    (cell,) = _reader(call, merchant_id).cells
    body = rep.statement(
        reports.statement(cell.read.ledger, merchant_id=merchant_id, since=since, until=until)
    )
    if _wants_csv(request):
        return _csv(rep.STATEMENT_COLUMNS, rep.statement_rows(body))
    return JSONResponse(body)


@router.get("/balance", summary="Pending, available and paid-out balance per currency")
def balance(call: AnyCall, merchant: MerchantParam = None, as_of: AsOf = None) -> JSONResponse:
    """From the ledger read model; with `as_of`, its lines up to that moment."""
    merchant_id = merchant_scope(call, merchant)
    if merchant_id is None:
        raise Problem(422, "validation_error", "pass `merchant` with a staff key")
    (cell,) = _reader(call, merchant_id).cells
    ledger = cell.read.ledger
    rows = (
        ledger.balances(merchant_id) if as_of is None else ledger.balances_as_of(merchant_id, as_of)
    )
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
