"""DailyVolume: captures, refunds and fees of one UTC day in one currency."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from paysource.entrypoints.http.graphql.types.money import Money


@strawberry.type
class DailyVolume:
    date: date
    currency: str
    captures_count: int
    captured: Money
    refunds_count: int
    refunded: Money
    fees: Money
    net: Money = strawberry.field(description="Captured minus refunded minus fees.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DailyVolume:
        currency = row["currency"].strip()
        return cls(
            date=row["day"],
            currency=currency,
            captures_count=row["captures_count"],
            captured=Money.of(row["captures_minor"], currency),
            refunds_count=row["refunds_count"],
            refunded=Money.of(row["refunds_minor"], currency),
            fees=Money.of(row["fees_minor"], currency),
            net=Money.of(row["net_minor"], currency),
        )
