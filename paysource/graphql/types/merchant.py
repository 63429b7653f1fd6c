"""Merchant: the profile of a business that takes payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from paysource.api.ids import Kind, encode
from paysource.graphql.types.money import Money
from paysource.graphql.types.node import Node


@strawberry.type(description="What a capture costs: basis points of the amount, plus a fixed fee.")
class FeeSchedule:
    basis_points: int
    fixed: Money


@strawberry.type
class Merchant(Node):
    id: strawberry.ID
    name: str
    email: str | None
    settlement_currency: str
    fees: FeeSchedule
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Merchant:
        currency = row["settlement_currency"].strip()
        return cls(
            id=strawberry.ID(encode(Kind.MERCHANT, row["id"])),
            name=row["name"],
            email=row["email"],
            settlement_currency=currency,
            fees=FeeSchedule(
                basis_points=row["fee_basis_points"],
                fixed=Money.of(row["fee_fixed_minor"], currency),
            ),
            created_at=row["created_at"],
        )
