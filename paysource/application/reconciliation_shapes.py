"""The public shapes of reconciliation: an import's answer and a break, the same for
REST, the CLI's JSON and its CSV report (docs/reconciliation.md)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from paysource.application.ids import Kind, encode, encode_optional
from paysource.application.reconciliation import ImportResult
from paysource.application.representations import timestamp
from paysource.domain.reconciliation import Break

IMPORT_PREFIX = "rci"
# The id of each line kind's item, as the API shows it (a new kind adds a row).
ITEM_PREFIX = {
    "capture": Kind.PAYMENT,
    "refund": Kind.REFUND,
    "dispute": Kind.DISPUTE,
    "dispute_won": Kind.DISPUTE,
    "payout": Kind.SETTLEMENT,
}
REPORT_COLUMNS = (
    "date", "source", "kind", "item_type", "item", "merchant", "currency", "expected_amount",
    "actual_amount", "line", "reference", "detail", "status", "import",
)  # fmt: skip


def _item(kind: str, key: UUID | str) -> dict[str, str]:
    return {"type": kind, "id": encode(ITEM_PREFIX[kind], UUID(str(key)))}


def import_result(result: ImportResult) -> dict[str, Any]:
    return {
        "id": encode(IMPORT_PREFIX, UUID(result.id)),
        "object": "reconciliation_import",
        "source": str(result.source),
        "date": result.days[0].isoformat(),
        "lines": result.lines,
        "matched": result.matched,
        "breaks": [_found(found) for found in result.breaks],
    }


def _found(found: Break) -> dict[str, Any]:
    return {
        "kind": str(found.kind),
        "item": _item(found.item_kind, found.key),
        "merchant": encode_optional(Kind.MERCHANT, found.merchant_id),
        "currency": found.currency,
        "expected_amount": found.expected_minor,
        "actual_amount": found.actual_minor,
        "date": found.day.isoformat(),
        "line": found.line,
        "reference": found.reference,
        "detail": found.detail,
    }


def break_row(row: dict[str, Any]) -> dict[str, Any]:
    """A break from the `reconciliation` read model."""
    return {
        "object": "reconciliation_break",
        "import": encode(IMPORT_PREFIX, row["import_id"]),
        "number": row["number"],
        "source": row["source"],
        "kind": row["kind"],
        "item": _item(row["item_kind"], row["item_key"]),
        "merchant": encode_optional(Kind.MERCHANT, row["merchant_id"]),
        "currency": row["currency"],
        "expected_amount": row["expected_minor"],
        "actual_amount": row["actual_minor"],
        "date": row["day"].isoformat(),
        "line": row["line"],
        "reference": row["reference"],
        "detail": row["detail"],
        "status": row["status"],
        "detected": timestamp(row["detected_at"]),
        "resolved": timestamp(row["resolved_at"]) if row["resolved_at"] else None,
    }


def report_line(shaped: dict[str, Any]) -> list[Any]:
    """A `break_row` as a line of the CSV report (columns REPORT_COLUMNS)."""
    item = shaped["item"]
    return [
        shaped["date"], shaped["source"], shaped["kind"], item["type"], item["id"],
        shaped["merchant"] or "", shaped["currency"], _blank(shaped["expected_amount"]),
        _blank(shaped["actual_amount"]), _blank(shaped["line"]), shaped["reference"],
        shaped["detail"], shaped["status"], shaped["import"],
    ]  # fmt: skip


def _blank(value: object) -> object:
    return "" if value is None else value
