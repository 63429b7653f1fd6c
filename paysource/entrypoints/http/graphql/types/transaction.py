"""Transaction: one money movement of a payment (authorization, capture, refund…)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry

from paysource.entrypoints.http.graphql import fields
from paysource.entrypoints.http.graphql.policy import Detail, shown
from paysource.entrypoints.http.graphql.types.money import Money
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.graphql.types.refund import Refund


@strawberry.enum
class TransactionKind(Enum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    CANCELLATION = "cancellation"
    EXPIRY = "expiry"
    REFUND = "refund"
    PAYOUT = "payout"


@strawberry.enum
class TransactionStatus(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@strawberry.type(description="A money movement, from the `transactions` read model.")
class Transaction:
    id: strawberry.ID
    kind: TransactionKind
    status: TransactionStatus
    amount: Money
    occurred_at: datetime
    payment_id: strawberry.Private[UUID | None]
    refund_id: strawberry.Private[UUID | None]
    fee_amount: strawberry.Private[Money]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Transaction:
        return cls(
            id=strawberry.ID(f"txn_{row['id'].hex}"),
            kind=TransactionKind(row["kind"]),
            status=TransactionStatus(row["status"]),
            amount=Money.of(row["amount_minor"], row["currency"]),
            occurred_at=row["occurred_at"],
            payment_id=row["payment_id"],
            refund_id=row["refund_id"],
            fee_amount=Money.of(row["fee_minor"], row["currency"]),
        )

    @fields.field("What the movement cost the merchant. Null for customer tokens.")
    def fee(self, info: strawberry.Info) -> Money | None:
        return shown(info.context.access, Detail.FEES, self.fee_amount)

    @strawberry.field
    async def payment(self, info: strawberry.Info) -> Payment | None:
        if self.payment_id is None:
            return None
        row = await info.context.loaders.payment.load(self.payment_id)
        return None if row is None else Payment.from_row(row)

    @strawberry.field
    async def refund(self, info: strawberry.Info) -> Refund | None:
        if self.refund_id is None:
            return None
        row = await info.context.loaders.refund.load(self.refund_id)
        return None if row is None else Refund.from_row(row)
