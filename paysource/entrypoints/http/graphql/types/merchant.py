"""Merchant: the profile of a business that takes payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from paysource.application.ids import Kind, encode
from paysource.entrypoints.http.graphql import fields
from paysource.entrypoints.http.graphql.policy import Detail, shown
from paysource.entrypoints.http.graphql.types.money import Money
from paysource.entrypoints.http.graphql.types.node import Node


@strawberry.type(
    description="What a capture costs: basis points of the amount, plus a fixed fee "
    "stated per currency (the merchant's own, else the platform's default)."
)
class FeeSchedule:
    basis_points: int
    fixed: Money = strawberry.field(description="The fixed fee in the settlement currency.")
    fixed_by_currency: list[Money] = strawberry.field(
        description="The merchant's own fixed fees, one per currency; any other currency "
        "takes the platform's default (docs/settlement.md, Fees)."
    )


@strawberry.type
class Merchant(Node):
    id: strawberry.ID
    name: str
    email: str | None
    settlement_currency: str
    created_at: datetime
    fee_schedule: strawberry.Private[FeeSchedule]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Merchant:
        currency = row["settlement_currency"].strip()
        return cls(
            id=strawberry.ID(encode(Kind.MERCHANT, row["id"])),
            name=row["name"],
            email=row["email"],
            settlement_currency=currency,
            fee_schedule=FeeSchedule(
                basis_points=row["fee_basis_points"],
                fixed=Money.of(row["fee_fixed_minor"], currency),
                fixed_by_currency=[
                    Money.of(minor, code) for code, minor in sorted(row["fee_fixed"].items())
                ],
            ),
            created_at=row["created_at"],
        )

    @fields.field("What the merchant pays per capture. Null for customer tokens.")
    def fees(self, info: strawberry.Info) -> FeeSchedule | None:
        return shown(info.context.access, Detail.FEES, self.fee_schedule)
