"""The SQL of GraphQL reads, scoped to the caller: pages, lookups by id, aggregates.

Lists filter by the caller's merchant (and customer) in SQL; every row is then
checked by `Access.sees` before it becomes an object (see policy.py).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from paysource.adapters.postgres.reads import ReadDb, Row
from paysource.bootstrap import Cell, Container
from paysource.entrypoints.http.graphql.pagination import Keyset
from paysource.entrypoints.http.graphql.policy import Access, Kind


@dataclass(frozen=True, slots=True)
class Listing:
    """How to select, scope and order one kind of row, newest first."""

    kind: Kind
    select: str
    alias: str
    time: str
    customer_column: str

    def position(self, row: Row) -> Keyset:
        return Keyset(row[self.time], row["id"])


PAYMENTS = Listing(Kind.PAYMENT, "SELECT p.* FROM payments p", "p", "created_at", "p.customer_id")
# A refund row carries its payment's customer: the policy needs it.
REFUNDS = Listing(
    Kind.REFUND,
    "SELECT r.*, p.customer_id FROM refunds r JOIN payments p ON p.id = r.payment_id",
    "r",
    "created_at",
    "p.customer_id",
)
CUSTOMERS = Listing(Kind.CUSTOMER, "SELECT c.* FROM customers c", "c", "created_at", "c.id")
TRANSACTIONS = Listing(
    Kind.TRANSACTION, "SELECT t.* FROM transactions t", "t", "occurred_at", "t.customer_id"
)
MERCHANTS = Listing(Kind.MERCHANT, "SELECT m.* FROM merchants m", "m", "created_at", "NULL")
# No customer column: `NULL = %s` selects nothing for a customer token.
SETTLEMENTS = Listing(Kind.SETTLEMENT, "SELECT s.* FROM settlements s", "s", "created_at", "NULL")


class Reads:
    def __init__(self, db: ReadDb, container: Container, access: Access) -> None:
        self.db = db
        self.access = access
        router = container.router
        merchant_id = access.merchant_id
        # A merchant reads in its own cell; staff roles read across every cell.
        self._cells = [router.for_merchant(merchant_id)] if merchant_id else router.all()
        self._directory = router.directory
        self._router = router

    @property
    def cells(self) -> list[Cell]:
        return list(self._cells)

    def cell_of(self, merchant_id: UUID) -> Cell:
        """The cell of a merchant whose row the caller was already allowed to see."""
        return self._router.for_merchant(merchant_id)

    async def _everywhere(self, query: str, params: Sequence[Any]) -> list[list[Row]]:
        return list(await asyncio.gather(*(self.db.fetch(c, query, params) for c in self._cells)))

    def _visible(self, kind: Kind, rows: list[Row]) -> list[Row]:
        return [row for row in rows if self.access.sees(kind, row)]

    def _scope(self, listing: Listing) -> tuple[list[str], list[Any]]:
        where, params = ["TRUE"], []
        if self.access.merchant_id is not None and listing.kind is not Kind.MERCHANT:
            where.append(f"{listing.alias}.merchant_id = %s")
            params.append(self.access.merchant_id)
        if self.access.customer_id is not None:
            where.append(f"{listing.customer_column} = %s")
            params.append(self.access.customer_id)
        return where, params

    async def page(
        self, listing: Listing, *, first: int, after: Keyset | None, filters: dict[str, Any]
    ) -> list[Row]:
        """Up to first + 1 visible rows after `after` (keyset), newest first."""
        where, params = self._scope(listing)
        alias = listing.alias
        for column, value in filters.items():
            where.append(f"{alias}.{column} = %s")
            params.append(value)
        if after is not None:
            where.append(f"({alias}.{listing.time}, {alias}.id) < (%s, %s)")
            params += [after.at, after.id]
        query = (
            f"{listing.select} WHERE {' AND '.join(where)}"  # fixed columns
            f" ORDER BY {alias}.{listing.time} DESC, {alias}.id DESC LIMIT %s"
        )
        pages = await self._everywhere(query, (*params, first + 1))
        # Keyset positions are global, so each cell's best rows merge into the best page.
        merged = heapq.merge(*pages, key=listing.position, reverse=True)
        return self._visible(listing.kind, list(merged)[: first + 1])

    async def by_ids(self, listing: Listing, ids: Sequence[UUID]) -> dict[UUID, Row]:
        query = f"{listing.select} WHERE {listing.alias}.id = ANY(%s)"
        if listing.kind is Kind.MERCHANT:
            rows = await self.db.fetch(self._directory, query, (list(ids),))
        else:
            rows = [row for page in await self._everywhere(query, (list(ids),)) for row in page]
        return {row["id"]: row for row in self._visible(listing.kind, rows)}

    async def refunds_of(self, payment_ids: Sequence[UUID]) -> list[Row]:
        query = f"{REFUNDS.select} WHERE r.payment_id = ANY(%s) ORDER BY r.created_at, r.id"
        pages = await self._everywhere(query, (list(payment_ids),))
        return self._visible(Kind.REFUND, [row for page in pages for row in page])

    async def customer_pages(
        self,
        listing: Listing,
        owners: Sequence[tuple[UUID, UUID]],
        *,
        first: int,
        after: Keyset | None,
    ) -> list[Row]:
        """The first + 1 newest rows of each (merchant, customer) in `owners`, in one
        statement (a LATERAL join per customer), so a list of customers with their
        payments costs one query, not one per customer."""
        alias, time = listing.alias, listing.time
        where = f"{alias}.merchant_id = k.merchant_id AND {alias}.customer_id = k.customer_id"
        params: list[Any] = [[m for m, _ in owners], [c for _, c in owners]]
        if after is not None:
            where += f" AND ({alias}.{time}, {alias}.id) < (%s, %s)"
            params += [after.at, after.id]
        query = (
            "SELECT x.* FROM unnest(%s::uuid[], %s::uuid[]) AS k(merchant_id, customer_id)"  # noqa: S608
            f" CROSS JOIN LATERAL ({listing.select} WHERE {where}"
            f" ORDER BY {alias}.{time} DESC, {alias}.id DESC LIMIT %s) x"
        )
        pages = await self._everywhere(query, (*params, first + 1))
        return self._visible(listing.kind, [row for page in pages for row in page])

    async def customer_totals(self, owners: Sequence[tuple[UUID, UUID]]) -> list[Row]:
        query = (
            "SELECT merchant_id, customer_id, currency, count(*) AS payments,"
            " sum(amount_captured_minor) AS captured_minor,"
            " sum(amount_refunded_minor) AS refunded_minor FROM payments"
            " WHERE merchant_id = ANY(%s) AND customer_id = ANY(%s)"
            " GROUP BY merchant_id, customer_id, currency ORDER BY currency"
        )
        merchants = sorted({m for m, _ in owners})
        customers = sorted({c for _, c in owners})
        pages = await self._everywhere(query, (merchants, customers))
        return [row for page in pages for row in page]

    async def balances(self) -> list[Row]:
        """Rows of the `merchant_balances` view (all merchants' for staff)."""
        if not self.access.sees_merchant_totals:
            return []
        query, params = "SELECT * FROM merchant_balances", tuple[Any, ...]()
        if self.access.merchant_id is not None:
            query, params = query + " WHERE merchant_id = %s", (self.access.merchant_id,)
        return [row for page in await self._everywhere(query, params) for row in page]

    async def daily_volume(self, since: date, until: date) -> list[Row]:
        if not self.access.sees_merchant_totals:
            return []
        where, params = "day >= %s AND day <= %s", list[Any]([since, until])
        if self.access.merchant_id is not None:
            where += " AND merchant_id = %s"
            params.append(self.access.merchant_id)
        query = (
            "SELECT day, currency, sum(captures_count) AS captures_count,"  # noqa: S608
            " sum(captures_minor) AS captures_minor, sum(refunds_count) AS refunds_count,"
            " sum(refunds_minor) AS refunds_minor, sum(fees_minor) AS fees_minor,"
            f" sum(net_minor) AS net_minor FROM daily_volume WHERE {where}"
            " GROUP BY day, currency ORDER BY day DESC, currency"
        )
        return [row for page in await self._everywhere(query, params) for row in page]
