"""Viewer: the caller — a merchant, a customer token or a staff role — and its lists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError

from paysource.application.ids import Kind
from paysource.entrypoints.http.graphql import feed, fields, ids
from paysource.entrypoints.http.graphql.pagination import DEFAULT_FIRST, decode_cursor, page_size
from paysource.entrypoints.http.graphql.policy import Access
from paysource.entrypoints.http.graphql.types.balance import Balance, per_currency
from paysource.entrypoints.http.graphql.types.connection import Connection
from paysource.entrypoints.http.graphql.types.customer import Customer
from paysource.entrypoints.http.graphql.types.daily_volume import DailyVolume
from paysource.entrypoints.http.graphql.types.dispute import Dispute, DisputeStatus
from paysource.entrypoints.http.graphql.types.feed_event import FeedConnection
from paysource.entrypoints.http.graphql.types.merchant import Merchant
from paysource.entrypoints.http.graphql.types.operations import (
    Operations,
    next_cutoff,
    operations_for,
)
from paysource.entrypoints.http.graphql.types.payment import Payment, PaymentStatus
from paysource.entrypoints.http.graphql.types.refund import Refund
from paysource.entrypoints.http.graphql.types.settlement import Settlement, SettlementStatus
from paysource.readmodels.directory.queries import CUSTOMER_LIST
from paysource.readmodels.disputes.queries import DISPUTE_LIST
from paysource.readmodels.payments.queries import PAYMENT_LIST, REFUND_LIST
from paysource.readmodels.reports import EARLIEST, LATEST, MAX_RANGE_DAYS
from paysource.readmodels.settlements.queries import SETTLEMENT_LIST
from paysource.readmodels.sql import Filters, Listing

MAX_VOLUME_DAYS = MAX_RANGE_DAYS
T = TypeVar("T")


@strawberry.enum
class ViewerRole(Enum):
    MERCHANT = "merchant"
    CUSTOMER = "customer"
    FINANCE = "finance"
    AUDITOR = "auditor"
    ADMIN = "admin"


@strawberry.input
class PaymentFilter:
    status: PaymentStatus | None = None
    customer: strawberry.ID | None = None
    relay_failed: bool | None = strawberry.field(
        default=None,
        description="Only payments with (true) or without (false) relay failures.",
    )


@strawberry.input(
    description="A span of time: from `gte` (inclusive) up to `lt` (exclusive); either "
    "end may be left open. Both need a time zone."
)
class DateTimeRange:
    gte: datetime | None = None
    lt: datetime | None = None

    def as_filters(self) -> Filters:
        # Both bounds have a zone: DateTime refuses a time without one (scalars.py).
        return Filters(created_gte=self.gte, created_lt=self.lt)


@strawberry.input
class DisputeFilter:
    status: DisputeStatus | None = None
    payment: strawberry.ID | None = None
    created: DateTimeRange | None = strawberry.field(
        default=None, description="Only disputes opened in this range (as REST's `created[…]`)."
    )


@strawberry.input
class SettlementFilter:
    status: SettlementStatus | None = None


@strawberry.type(description="Who is calling. Lists hold only what the caller may see.")
class Viewer:
    access: strawberry.Private[Access]

    @strawberry.field
    def role(self) -> ViewerRole:
        if self.access.customer_id is not None:
            return ViewerRole.CUSTOMER
        return ViewerRole(str(self.access.principal.role))

    @fields.field("The caller's merchant; null for staff roles.")
    async def merchant(self, info: strawberry.Info) -> Merchant | None:
        if self.access.merchant_id is None:
            return None
        row = await info.context.loaders.merchant.load(self.access.merchant_id)
        return None if row is None else Merchant.from_row(row)

    @fields.field("The customer of a customer-scoped token.")
    async def customer(self, info: strawberry.Info) -> Customer | None:
        if self.access.customer_id is None:
            return None
        row = await info.context.loaders.customer.load(self.access.customer_id)
        return None if row is None else Customer.from_row(row)

    @fields.field(
        "Per currency. Empty for customer tokens. With `asOf`, as they were at that "
        "moment (the ledger's lines up to then: what a replay of the events leaves)."
    )
    async def balances(self, info: strawberry.Info, as_of: datetime | None = None) -> list[Balance]:
        rows = await info.context.loaders.reads.balances(as_of)
        return [Balance.from_row(row) for row in per_currency(rows)]

    @fields.field("What operators watch (projections, jobs, backlogs). Admin keys only.")
    def operations(self, info: strawberry.Info) -> Operations | None:
        return operations_for(self.access, info.context.services.container)

    @fields.field("The settlement schedule's next cut-off (UTC); null when it is off.")
    def next_settlement_cutoff(self, info: strawberry.Info) -> datetime | None:
        return next_cutoff(info.context.services.container.settings, datetime.now(UTC))

    @fields.field(
        "Every event of the caller's objects, oldest first by log position: the "
        "merchant's own, every merchant's for auditors and admins, none otherwise."
    )
    async def events(
        self,
        info: strawberry.Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        type: list[str] | None = None,  # noqa: A002  # the GraphQL name
        object: strawberry.ID | None = None,  # noqa: A002  # the GraphQL name
    ) -> FeedConnection:
        reads = info.context.loaders.reads
        return await feed.events(reads, first=first, after=after, types=type, object=object)

    @fields.field("Newest first.")
    async def payments(
        self,
        info: strawberry.Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        filter: PaymentFilter | None = None,  # noqa: A002  # the GraphQL name
    ) -> Connection[Payment]:
        filters: dict[str, Any] = {}
        if filter is not None and filter.status is not None:
            filters["status"] = filter.status.value
        if filter is not None and filter.relay_failed is not None:
            filters["relay_failed"] = filter.relay_failed
        if filter is not None and filter.customer is not None:
            customer_id = ids.parse(Kind.CUSTOMER, filter.customer)
            if customer_id is None:
                return Connection.of(
                    [], first=0, after=None, position=PAYMENT_LIST.position, build=Payment.from_row
                )
            filters["customer_id"] = customer_id
        return await _page(
            info, PAYMENT_LIST, first=first, after=after, filters=filters, build=Payment.from_row
        )

    @fields.field("Newest first.")
    async def customers(
        self, info: strawberry.Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Customer]:
        return await _page(
            info, CUSTOMER_LIST, first=first, after=after, filters={}, build=Customer.from_row
        )

    @fields.field("Newest first.")
    async def refunds(
        self, info: strawberry.Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Refund]:
        return await _page(
            info, REFUND_LIST, first=first, after=after, filters={}, build=Refund.from_row
        )

    @fields.field(
        "Newest first: the merchant's own, every merchant's for staff, none for customer tokens."
    )
    async def settlements(
        self,
        info: strawberry.Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        filter: SettlementFilter | None = None,  # noqa: A002  # the GraphQL name
    ) -> Connection[Settlement]:
        filters: dict[str, Any] = {}
        if filter is not None and filter.status is not None:
            filters["status"] = filter.status.value
        return await _page(
            info,
            SETTLEMENT_LIST,
            first=first,
            after=after,
            filters=filters,
            build=Settlement.from_row,
        )

    @fields.field(
        "Newest first: the merchant's disputes (chargebacks), every merchant's for staff, "
        "none for customer tokens."
    )
    async def disputes(
        self,
        info: strawberry.Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        filter: DisputeFilter | None = None,  # noqa: A002  # the GraphQL name
    ) -> Connection[Dispute]:
        filters: dict[str, Any] = {}
        if filter is not None and filter.status is not None:
            filters["status"] = filter.status.value
        if filter is not None and filter.created is not None:
            filters["filters"] = filter.created.as_filters()
        if filter is not None and filter.payment is not None:
            payment_id = ids.parse(Kind.PAYMENT, filter.payment)
            if payment_id is None:  # an id we do not know: no disputes of it
                return Connection.of(
                    [], first=0, after=None, position=DISPUTE_LIST.position, build=Dispute.from_row
                )
            filters["payment_id"] = payment_id
        return await _page(
            info, DISPUTE_LIST, first=first, after=after, filters=filters, build=Dispute.from_row
        )

    @fields.field("Per UTC day and currency, newest day first (≤ 366 days).")
    async def daily_volume(
        self, info: strawberry.Info, since: date | None = None, until: date | None = None
    ) -> list[DailyVolume]:
        until = until or datetime.now(UTC).date()
        if not EARLIEST <= until <= LATEST:  # and a default `since` can be computed
            raise _invalid(f"days run from {EARLIEST} to {LATEST}")
        since = since or until - timedelta(days=30)
        # The days REST's report takes (reports.check_range), in GraphQL's words.
        if since < EARLIEST:
            raise _invalid(f"days run from {EARLIEST} to {LATEST}")
        if not 0 <= (until - since).days < MAX_VOLUME_DAYS:
            raise _invalid(f"`since` must not be after `until`; at most {MAX_VOLUME_DAYS} days")
        rows = await info.context.loaders.reads.daily_volume(since, until)
        return [DailyVolume.from_row(row) for row in rows]


def _invalid(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "invalid_argument"})


async def _page(
    info: strawberry.Info,
    listing: Listing,
    *,
    first: int,
    after: str | None,
    filters: dict[str, Any],
    build: Callable[[dict[str, Any]], T],
) -> Connection[T]:
    size, start = page_size(first), decode_cursor(after)
    rows = await info.context.loaders.reads.page(listing, first=size, after=start, filters=filters)
    return Connection.of(rows, first=size, after=start, position=listing.position, build=build)
