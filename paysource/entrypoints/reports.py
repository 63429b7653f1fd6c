"""The public shape of reports (daily volume, statement), as JSON and CSV columns.

Reports are read models, so their shape lives with the transports that show them, not
in the application: the REST reports routes and the CLI both render through here, so
`paysource report ... --format csv` prints what the API serves, byte for byte.
"""

from __future__ import annotations

from typing import Any

from paysource.application.ids import Kind, encode, encode_optional
from paysource.application.representations import timestamp
from paysource.readmodels.reports import Statement

DAILY_VOLUME_COLUMNS = (
    "date",
    "merchant",
    "currency",
    "captures_count",
    "captures_amount",
    "refunds_count",
    "refunds_amount",
    "fees",
    "reversals_count",
    "reversals_amount",
    "reversed_fees",
    "net",
)
STATEMENT_COLUMNS = (
    "currency",
    "time",
    "type",
    "payment",
    "refund",
    "amount",
    "balance_after",
    "settlement",
)


def daily_volume_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "date": row["day"].isoformat(),
        "merchant": encode(Kind.MERCHANT, row["merchant_id"]),
        "currency": row["currency"],
        "captures_count": row["captures_count"],
        "captures_amount": row["captures_minor"],
        "refunds_count": row["refunds_count"],
        "refunds_amount": row["refunds_minor"],
        "fees": row["fees_minor"],
        "reversals_count": row["reversals_count"],
        "reversals_amount": row["reversals_minor"],
        "reversed_fees": row["reversed_fees_minor"],
        "net": row["net_minor"],
    }


def statement(s: Statement) -> dict[str, Any]:
    return {
        "object": "statement",
        "merchant": encode(Kind.MERCHANT, s.merchant_id),
        "from": s.since.isoformat(),
        "to": s.until.isoformat(),
        "reconciles": s.reconciles,
        "currencies": [
            {
                "currency": c.currency,
                "opening_balance": c.opening_minor,
                "movements": c.movements_minor,
                "closing_balance": c.closing_minor,
                "reconciles": c.reconciles,
                "lines": [
                    {
                        "time": timestamp(line.time),
                        "type": line.type,
                        "payment": encode_optional(Kind.PAYMENT, line.payment_id),
                        "refund": encode_optional(Kind.REFUND, line.refund_id),
                        "settlement": encode_optional(Kind.SETTLEMENT, line.settlement_id),
                        "amount": line.amount_minor,
                        "balance_after": line.balance_after_minor,
                    }
                    for line in c.lines
                ],
            }
            for c in s.currencies
        ],
    }


def statement_rows(body: dict[str, Any]) -> list[list[Any]]:
    """The statement (as rendered by `statement`) as CSV rows, with its balances."""
    rows: list[list[Any]] = []
    for section in body["currencies"]:
        currency = section["currency"]
        rows.append(
            [currency, body["from"], "opening_balance", "", "", "", section["opening_balance"], ""]
        )
        rows += [
            [
                currency,
                ln["time"],
                ln["type"],
                ln["payment"] or "",
                ln["refund"] or "",
                ln["amount"],
                ln["balance_after"],
                ln["settlement"] or "",
            ]
            for ln in section["lines"]
        ]
        rows.append(
            [currency, body["to"], "closing_balance", "", "", "", section["closing_balance"], ""]
        )
    return rows
