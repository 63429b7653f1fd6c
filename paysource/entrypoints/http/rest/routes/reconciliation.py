"""Reconciliation for finance: import the acquirer's and the bank's files, list breaks."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from paysource.application import reconciliation_shapes as shapes
from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.statements import MalformedStatement
from paysource.domain.api_key import Role
from paysource.domain.reconciliation import Source
from paysource.entrypoints.http.rest.deps import AnyCall
from paysource.entrypoints.http.rest.routes.common import listing, respond
from paysource.readmodels.reports import parse_day

router = APIRouter(prefix="/v1", tags=["reconciliation"])


def _day(value: object) -> object:
    # pydantic alone also takes 2026-12-08T00:00:00 or a Unix timestamp for a date.
    if not isinstance(value, str):
        raise ValueError("a day is written YYYY-MM-DD")
    return parse_day(value)


Day = Annotated[dt.date, BeforeValidator(_day)]

SourceName = Literal["acquirer", "bank"]
CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/reconciliation/imports",
    status_code=201,
    summary="Import the acquirer's settlement file or the bank's statement (finance, admin)",
    description="The body is the CSV file (`Content-Type: text/csv`; formats in "
    "docs/reconciliation.md). Matched acquirer lines clear `acquirer_receivable`; every "
    "break is recorded. The same file again changes nothing (200, `Idempotent-Replayed`); "
    "a replay with the same Idempotency-Key answers as the first request did (201 if it "
    "imported the file), and that key with another file, source or date is 422 "
    "`idempotency_key_reused`; "
    "a malformed file is refused whole (422 `malformed_statement`, with its line), as is "
    "one with a card number in any cell (422 `card_number_refused`).",
    openapi_extra=CSV_BODY,
)
def import_statement(
    call: AnyCall,
    source: SourceName,
    body: Annotated[bytes, Body(media_type="text/csv")] = b"",
    date: Day | None = None,
) -> JSONResponse:
    call.principal.require(Role.ADMIN, Role.FINANCE)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedStatement(1, "the file is not UTF-8 text") from None
    cell = call.container.router.directory
    # The file is the body: the request's fingerprint covers its every byte.
    request = {
        "source": source,
        "date": None if date is None else date.isoformat(),
        "file_sha256": hashlib.sha256(body).hexdigest(),
    }
    result = cell.reconciliation.import_file(
        source=Source(source),
        text=text,
        meta=call.meta,
        day=date,
        idempotency_key=call.context.idempotency_key,
        request_hash=fingerprint("POST", "/v1/reconciliation/imports", request),
    )
    status = 201 if result.imported else 200
    return respond(Answer(status, shapes.import_result(result), result.replayed))


@router.get(
    "/reconciliation/breaks",
    summary="Reconciliation breaks (finance, admin)",
    description="Breaks by day, oldest first: `missing`, `extra`, `amount_differs`. "
    "`status=open` (default) lists those no later file has cleared; `all` lists every one. "
    "A report of more than 100,000 breaks is refused (422 `report_too_large`): narrow it "
    "to a `date`, a `source` or a `status`.",
)
def list_breaks(
    call: AnyCall,
    date: Day | None = None,
    status: Literal["open", "resolved", "all"] = "open",
    source: SourceName | None = None,
) -> JSONResponse:
    call.principal.require(Role.ADMIN, Role.FINANCE)
    read = call.container.router.directory.read.reconciliation
    rows = read.breaks(
        day=date,
        status=None if status == "all" else status,
        source=None if source is None else Source(source),
    )
    # The whole report: one too large to answer was refused above, never cut.
    return respond(Answer(200, listing([shapes.break_row(r) for r in rows], has_more=False)))
