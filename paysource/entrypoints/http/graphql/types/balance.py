"""Balance: what paysource owes a merchant in one currency, from the ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import strawberry

from paysource.entrypoints.http.graphql.types.money import Money

# Paid out stays 0 until settlements write it: read from the `merchant_balances`
# view when it has this column, so nothing here changes when they land.
PAID_OUT_COLUMN = "paid_out_minor"


@strawberry.type
class Balance:
    currency: str
    pending: Money = strawberry.field(
        description="Authorized, not yet captured, less refunds in flight."
    )
    available: Money = strawberry.field(description="Captured, less fees, refunds and payouts.")
    paid_out: Money = strawberry.field(description="Sent to the merchant's bank.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Balance:
        currency = row["currency"].strip()
        return cls(
            currency=currency,
            pending=Money.of(row["pending_minor"], currency),
            available=Money.of(row["available_minor"], currency),
            paid_out=Money.of(row.get(PAID_OUT_COLUMN) or 0, currency),
        )


def per_currency(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per currency (staff see the sum over merchants)."""
    sums: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"pending_minor": 0, "available_minor": 0, PAID_OUT_COLUMN: 0}
    )
    for row in rows:
        total = sums[row["currency"]]
        total["currency"] = row["currency"]
        for column in ("pending_minor", "available_minor", PAID_OUT_COLUMN):
            total[column] += row.get(column) or 0
    return [sums[currency] for currency in sorted(sums)]
