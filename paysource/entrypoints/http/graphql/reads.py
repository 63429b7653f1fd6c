"""GraphQL's reads: the read models' own queries, run by the request's `Reader` on
the async pool, and every row checked by `Access.sees` before it becomes an object.

No SQL here: each statement comes from `readmodels/<name>/queries.py`, the same that
REST runs. The Reader narrows rows to the caller's merchant (and customer) in SQL and
in `get_owned`'s rule; the policy checks them again (see policy.py): two locks, one key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from paysource.adapters.postgres.reads import ReadDb, Row
from paysource.bootstrap import Cell, Container
from paysource.entrypoints.http.graphql.policy import Access, Kind
from paysource.readmodels import sql
from paysource.readmodels.directory import queries as directory
from paysource.readmodels.disputes import queries as disputes
from paysource.readmodels.finance import queries as finance
from paysource.readmodels.ledger import queries as ledger
from paysource.readmodels.payments import queries as payments
from paysource.readmodels.reader import ReadCell, Reader
from paysource.readmodels.settlements import queries as settlements
from paysource.readmodels.sql import Keyset, Listing, Scope, Statement
from paysource.readmodels.transactions import queries as transactions

# The lists of the viewer, by kind: each read model's own page statement.
_PAGES: dict[str, Callable[..., Statement]] = {
    payments.PAYMENT_LIST.kind: payments.page,
    payments.REFUND_LIST.kind: payments.refund_page,
    directory.CUSTOMER_LIST.kind: directory.customer_page,
    settlements.SETTLEMENT_LIST.kind: settlements.page,
    transactions.TRANSACTION_LIST.kind: transactions.page,
    disputes.DISPUTE_LIST.kind: disputes.page,
}


class Reads:
    def __init__(self, db: ReadDb, container: Container, access: Access) -> None:
        self.access = access
        self._router = container.router

        async def fetch(
            cell: ReadCell, statement: Statement, *, listing: bool = False
        ) -> list[Row]:
            return await db.fetch(cell.name, statement.text, statement.params, listing=listing)

        scope = Scope(access.merchant_id, access.customer_id)
        self.reader = Reader(container.router, scope, fetch=fetch)

    @property
    def cells(self) -> list[Cell]:
        """The caller's cells, for reads from the event store (history.py)."""
        merchant_id = self.access.merchant_id
        return [self._router.for_merchant(merchant_id)] if merchant_id else self._router.all()

    def cell_of(self, merchant_id: UUID) -> Cell:
        """The cell of a merchant whose row the caller was already allowed to see."""
        return self._router.for_merchant(merchant_id)

    def _visible(self, kind: str, rows: list[Row]) -> list[Row]:
        policy = Kind(kind)
        return [row for row in rows if self.access.sees(policy, row)]

    async def page(
        self, listing: Listing, *, first: int, after: Keyset | None, filters: dict[str, Any]
    ) -> list[Row]:
        """Up to first + 1 visible rows after `after` (keyset), newest first."""
        statement = _PAGES[listing.kind](self.reader.scope, limit=first, after=after, **filters)
        rows = await self.reader.newest(listing, statement, limit=first)
        return self._visible(listing.kind, rows)

    async def by_ids(self, listing: Listing, ids: Sequence[UUID]) -> dict[UUID, Row]:
        found = await self.reader.by_ids(listing.kind, ids)
        visible = self._visible(listing.kind, list(found.values()))
        return {row["id"]: row for row in visible}

    async def refunds_of(self, payment_ids: Sequence[UUID]) -> list[Row]:
        rows = await self.reader.everywhere(payments.refunds_of(payment_ids))
        return self._visible(payments.REFUND_LIST.kind, rows)

    async def disputes_of(self, payment_ids: Sequence[UUID]) -> list[Row]:
        rows = await self.reader.everywhere(disputes.of_payments(payment_ids))
        return self._visible(disputes.DISPUTE_LIST.kind, rows)

    async def customer_pages(
        self,
        listing: Listing,
        owners: Sequence[tuple[UUID, UUID]],
        *,
        first: int,
        after: Keyset | None,
    ) -> list[Row]:
        """The first + 1 newest rows of each (merchant, customer) in `owners`, in one
        statement per cell."""
        statement = sql.customer_pages(listing, owners, limit=first, after=after)
        rows = await self.reader.everywhere(statement, listing=True)
        return self._visible(listing.kind, rows)

    async def customer_totals(self, owners: Sequence[tuple[UUID, UUID]]) -> list[Row]:
        return await self.reader.everywhere(payments.customer_totals(owners))

    async def balances(self, as_of: datetime | None = None) -> list[Row]:
        """Rows of the `merchant_balances` view (all merchants' for staff), or (`as_of`)
        the same as they were at that moment."""
        if not self.access.sees_merchant_totals:
            return []
        merchant_id = self.access.merchant_id
        statement = (
            ledger.balances(merchant_id)
            if as_of is None
            else ledger.balances_as_of(merchant_id, as_of)
        )
        return await self.reader.everywhere(statement)

    async def daily_volume(self, since: date, until: date) -> list[Row]:
        """Per day and currency, newest day first (summed over merchants for staff)."""
        if not self.access.sees_merchant_totals:
            return []
        statement = finance.daily_volume(
            merchant_id=self.access.merchant_id, since=since, until=until
        )
        return finance.per_day(await self.reader.everywhere(statement, listing=True))
