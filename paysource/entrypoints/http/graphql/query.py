"""Query: the viewer, objects by id (payments also as they were, `asOf`), `node`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import strawberry
from strawberry.dataloader import DataLoader

from paysource.adapters.postgres.reads import Row
from paysource.application.ids import Kind
from paysource.entrypoints.http.graphql import fields, history, ids
from paysource.entrypoints.http.graphql.context import Context
from paysource.entrypoints.http.graphql.errors import not_found
from paysource.entrypoints.http.graphql.loaders import Loaders
from paysource.entrypoints.http.graphql.policy import Kind as Policy
from paysource.entrypoints.http.graphql.results import (
    CustomerResult,
    PaymentResult,
    SettlementResult,
)
from paysource.entrypoints.http.graphql.types.customer import Customer
from paysource.entrypoints.http.graphql.types.dispute import Dispute
from paysource.entrypoints.http.graphql.types.merchant import Merchant
from paysource.entrypoints.http.graphql.types.node import Node
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.graphql.types.refund import Refund
from paysource.entrypoints.http.graphql.types.settlement import Settlement
from paysource.entrypoints.http.graphql.types.viewer import Viewer


async def find_payment(context: Context, payment_id: UUID) -> Payment | None:
    row = await context.loaders.payment.load(payment_id)
    return None if row is None else Payment.from_row(row)


async def payment_as_of(context: Context, payment_id: UUID, moment: datetime) -> Payment | None:
    """Rebuilt from the event store; authorized by the same rule as read-model rows."""
    row = await history.payment_as_of(context.loaders.reads.cells, payment_id, moment)
    if row is None or not context.access.sees(Policy.PAYMENT, row):
        return None
    return Payment.from_row(row, as_of=moment)


# How `node(id)` finds each kind: its loader, and the type built from its row.
_NODES: dict[
    Kind, tuple[Callable[[Loaders], DataLoader[UUID, Row | None]], Callable[[Row], Node]]
] = {
    Kind.PAYMENT: (lambda loaders: loaders.payment, Payment.from_row),
    Kind.CUSTOMER: (lambda loaders: loaders.customer, Customer.from_row),
    Kind.REFUND: (lambda loaders: loaders.refund, Refund.from_row),
    Kind.MERCHANT: (lambda loaders: loaders.merchant, Merchant.from_row),
    Kind.SETTLEMENT: (lambda loaders: loaders.settlement, Settlement.from_row),
    Kind.DISPUTE: (lambda loaders: loaders.dispute, Dispute.from_row),
}


async def find_node(context: Context, global_id: str) -> Node | None:
    kind = ids.kind_of(global_id)
    uuid = None if kind is None else ids.parse(kind, global_id)
    if kind is None or uuid is None or kind not in _NODES:
        return None
    loader_of, build = _NODES[kind]
    row = await loader_of(context.loaders).load(uuid)
    return None if row is None else build(row)


async def find_settlement(context: Context, settlement_id: UUID) -> Settlement | None:
    row = await context.loaders.settlement.load(settlement_id)
    return None if row is None else Settlement.from_row(row)


@strawberry.type
class Query:
    @fields.field("Who is calling, and what they may see.")
    def viewer(self, info: strawberry.Info[Context]) -> Viewer:
        return Viewer(access=info.context.access)

    @fields.field(
        "A payment; with `asOf`, exactly as it was at that moment, rebuilt from its "
        "events (NotFoundError if it did not exist yet)."
    )
    async def payment(
        self,
        info: strawberry.Info[Context],
        id: strawberry.ID,  # noqa: A002  # the GraphQL name
        as_of: datetime | None = None,
    ) -> PaymentResult:
        uuid = ids.parse(Kind.PAYMENT, id)
        found = None
        if uuid is not None:
            context = info.context
            found = await (
                find_payment(context, uuid)
                if as_of is None
                else payment_as_of(context, uuid, as_of)
            )
        return found if found is not None else not_found("payment")

    @strawberry.field
    async def customer(self, info: strawberry.Info[Context], id: strawberry.ID) -> CustomerResult:  # noqa: A002
        uuid = ids.parse(Kind.CUSTOMER, id)
        row = None if uuid is None else await info.context.loaders.customer.load(uuid)
        return not_found("customer") if row is None else Customer.from_row(row)

    @fields.field(
        "A settlement with its items. A customer token sees none (NotFoundError), as for "
        "another merchant's."
    )
    async def settlement(
        self,
        info: strawberry.Info[Context],
        id: strawberry.ID,  # noqa: A002  # the GraphQL name
    ) -> SettlementResult:
        uuid = ids.parse(Kind.SETTLEMENT, id)
        found = None if uuid is None else await find_settlement(info.context, uuid)
        return found if found is not None else not_found("settlement")

    @fields.field("Any object by its global id; null when not found.")
    async def node(self, info: strawberry.Info[Context], id: strawberry.ID) -> Node | None:  # noqa: A002
        return await find_node(info.context, id)
