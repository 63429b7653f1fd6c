"""Refund: money returned from a captured payment, `PENDING → SUCCEEDED | FAILED`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

from paysource.application.ids import Kind, encode
from paysource.entrypoints.http.graphql.types.money import Money
from paysource.entrypoints.http.graphql.types.node import Node

if TYPE_CHECKING:
    from paysource.entrypoints.http.graphql.types.payment import Payment


@strawberry.enum
class RefundStatus(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@strawberry.type
class Refund(Node):
    id: strawberry.ID
    status: RefundStatus
    amount: Money
    reason: str | None
    failure_code: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    uuid: strawberry.Private[UUID]
    payment_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Refund:
        return cls(
            id=strawberry.ID(encode(Kind.REFUND, row["id"])),
            status=RefundStatus(row["status"]),
            amount=Money.of(row["amount_minor"], row["currency"]),
            reason=row["reason"],
            failure_code=row["failure_code"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=row["version"],
            uuid=row["id"],
            payment_id=row["payment_id"],
        )

    @strawberry.field
    async def payment(
        self, info: strawberry.Info
    ) -> (
        Annotated[Payment, strawberry.lazy("paysource.entrypoints.http.graphql.types.payment")]
        | None
    ):
        from paysource.entrypoints.http.graphql.types.payment import Payment  # noqa: PLC0415  # a cycle

        row = await info.context.loaders.payment.load(self.payment_id)
        return None if row is None else Payment.from_row(row)
