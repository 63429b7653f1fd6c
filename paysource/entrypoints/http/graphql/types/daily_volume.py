"""DailyVolume: captures, refunds, fees and reversed captures of one UTC day in one
currency."""

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
    reversals_count: int = strawberry.field(
        description="Captures an operator reversed this day (the acquirer never made them)."
    )
    reversed: Money = strawberry.field(description="The amount of those captures.")
    reversed_fees: Money = strawberry.field(description="Their fees, given back.")
    net: Money = strawberry.field(
        description="Captured minus refunded minus fees, minus reversed plus reversed fees."
    )

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
            reversals_count=row["reversals_count"],
            reversed=Money.of(row["reversals_minor"], currency),
            reversed_fees=Money.of(row["reversed_fees_minor"], currency),
            net=Money.of(row["net_minor"], currency),
        )
