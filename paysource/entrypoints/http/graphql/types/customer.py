"""Customer: profile, totals, and their transactions and payments, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from paysource.application.ids import Kind, encode
from paysource.entrypoints.http.graphql import as_of as as_of_reads
from paysource.entrypoints.http.graphql import fields
from paysource.entrypoints.http.graphql.pagination import DEFAULT_FIRST, decode_cursor, page_size
from paysource.entrypoints.http.graphql.policy import Detail, shown
from paysource.entrypoints.http.graphql.types.connection import Connection
from paysource.entrypoints.http.graphql.types.money import Money
from paysource.entrypoints.http.graphql.types.node import Node
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.graphql.types.transaction import Transaction
from paysource.readmodels.payments.queries import PAYMENT_LIST
from paysource.readmodels.transactions.queries import TRANSACTION_LIST


@strawberry.type(description="A customer's payments in one currency.")
class CustomerTotal:
    currency: str
    payment_count: int = strawberry.field(description="Payments of any status.")
    spent: Money = strawberry.field(description="Captured.")
    refunded: Money = strawberry.field(description="Refunded (settled refunds).")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CustomerTotal:
        currency = row["currency"]
        return cls(
            currency=currency.strip(),
            payment_count=row["payments"],
            spent=Money.of(row["captured_minor"] or 0, currency),
            refunded=Money.of(row["refunded_minor"] or 0, currency),
        )


@strawberry.type
class Customer(Node):
    id: strawberry.ID
    name: str
    email: str | None
    created_at: datetime
    uuid: strawberry.Private[UUID]
    merchant_id: strawberry.Private[UUID]
    notes: strawberry.Private[dict[str, Any]]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Customer:
        return cls(
            id=strawberry.ID(encode(Kind.CUSTOMER, row["id"])),
            name=row["name"],
            email=row["email"],
            created_at=row["created_at"],
            uuid=row["id"],
            merchant_id=row["merchant_id"],
            notes=row["metadata"],
        )

    @fields.field("The merchant's metadata. Null for customer tokens.")
    def metadata(self, info: strawberry.Info) -> JSON | None:
        return shown(info.context.access, Detail.MERCHANT_NOTES, JSON(self.notes))

    @fields.field(
        "Per currency, from the payments read model; with `asOf`, from each payment's "
        "events up to that moment."
    )
    async def totals(
        self, info: strawberry.Info, as_of: datetime | None = None
    ) -> list[CustomerTotal]:
        if as_of is not None:
            reads = info.context.loaders.reads
            rows = await as_of_reads.customer_totals(reads, self.merchant_id, self.uuid, as_of)
            return [CustomerTotal.from_row(row) for row in rows]
        rows = await info.context.loaders.customer_totals.load((self.merchant_id, self.uuid))
        return [CustomerTotal.from_row(row) for row in rows]

    @fields.field("Money movements, newest first.")
    async def transactions(
        self, info: strawberry.Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Transaction]:
        size, start = page_size(first), decode_cursor(after)
        key = (self.merchant_id, self.uuid, size, start)
        rows = await info.context.loaders.customer_transactions.load(key)
        return Connection.of(
            rows,
            first=size,
            after=start,
            position=TRANSACTION_LIST.position,
            build=Transaction.from_row,
        )

    @fields.field("Newest first.")
    async def payments(
        self, info: strawberry.Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Payment]:
        size, start = page_size(first), decode_cursor(after)
        key = (self.merchant_id, self.uuid, size, start)
        rows = await info.context.loaders.customer_payments.load(key)
        return Connection.of(
            rows, first=size, after=start, position=PAYMENT_LIST.position, build=Payment.from_row
        )
