"""Dispute: a cardholder's chargeback of a captured payment (docs/disputes.md).

Built from a `disputes` read-model row; its evidence text is not in the read model
(REST's GET /v1/disputes/{id} shows it).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

from paysource.application.ids import Kind, encode
from paysource.entrypoints.http.graphql import fields
from paysource.entrypoints.http.graphql.types.money import Money
from paysource.entrypoints.http.graphql.types.node import Node

if TYPE_CHECKING:
    from paysource.entrypoints.http.graphql.types.payment import Payment


@strawberry.enum(
    description="`NEEDS_RESPONSE → UNDER_REVIEW → WON | LOST`; with no evidence by `dueBy` "
    "it is `LOST`."
)
class DisputeStatus(Enum):
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"


@strawberry.type(
    description="A chargeback: its amount and fee left the merchant's balance when it "
    "opened, and come back if it is won."
)
class Dispute(Node):
    id: strawberry.ID
    status: DisputeStatus
    amount: Money = strawberry.field(description="The disputed amount.")
    fee: Money = strawberry.field(description="The dispute fee (returned if won).")
    reason: str = strawberry.field(description="e.g. `fraudulent`, `product_not_received`.")
    due_by: datetime = strawberry.field(description="Evidence is taken until then.")
    evidence_submitted_at: datetime | None
    outcome_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    uuid: strawberry.Private[UUID]
    payment_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Dispute:
        currency = row["currency"].strip()
        return cls(
            id=strawberry.ID(encode(Kind.DISPUTE, row["id"])),
            status=DisputeStatus(row["status"]),
            amount=Money.of(row["amount_minor"], currency),
            fee=Money.of(row["fee_minor"], currency),
            reason=row["reason"],
            due_by=row["due_by"],
            evidence_submitted_at=row["evidence_submitted_at"],
            outcome_reason=row["outcome_reason"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=row["version"],
            uuid=row["id"],
            payment_id=row["payment_id"],
        )

    @fields.field("The disputed payment.")
    async def payment(
        self, info: strawberry.Info
    ) -> (
        Annotated[Payment, strawberry.lazy("paysource.entrypoints.http.graphql.types.payment")]
        | None
    ):
        from paysource.entrypoints.http.graphql.types.payment import Payment  # noqa: PLC0415  # a cycle

        row = await info.context.loaders.payment.load(self.payment_id)
        return None if row is None else Payment.from_row(row)
