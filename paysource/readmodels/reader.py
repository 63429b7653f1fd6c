"""One caller's reads, whatever cell holds the rows: the one place that spans cells.

A `Reader` is made per request for one `Scope` (a merchant, or every merchant for
staff; optionally one customer). It runs the statements of `readmodels/<name>/queries`
in the caller's cells and merges their pages newest first by keyset (`merge`), so
REST and GraphQL page across cells the same way. Its plain methods run on each cell's
synchronous pool (REST); its `async` methods run the same statements through `fetch`
(GraphQL's async pool, which counts them).

`get_owned` is the one "not yours is not found" rule: another merchant's object is
answered exactly as an unknown id.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar
from uuid import UUID

from paysource.application.errors import NotFound
from paysource.readmodels import sql
from paysource.readmodels.catalog import ReadModels
from paysource.readmodels.directory.queries import CUSTOMER_LIST, MERCHANT_LIST
from paysource.readmodels.disputes.queries import DISPUTE_LIST
from paysource.readmodels.payments.queries import PAYMENT_LIST, REFUND_LIST
from paysource.readmodels.settlements.queries import SETTLEMENT_LIST
from paysource.readmodels.sql import (
    NO_FILTERS,
    Filters,
    Keyset,
    Listing,
    Page,
    Row,
    Scope,
    Statement,
    Window,
)
from paysource.readmodels.transactions.queries import TRANSACTION_LIST

T = TypeVar("T")

# Every kind of row a read can be asked for by id, by its name.
LISTINGS: dict[str, Listing] = {
    listing.kind: listing
    for listing in (
        PAYMENT_LIST,
        REFUND_LIST,
        CUSTOMER_LIST,
        MERCHANT_LIST,
        SETTLEMENT_LIST,
        TRANSACTION_LIST,
        DISPUTE_LIST,
    )
}


class ReadCell(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def read(self) -> ReadModels: ...


class Cells(Protocol):
    """Which cell holds a merchant (bootstrap's CellRouter)."""

    def for_merchant(self, merchant_id: UUID) -> ReadCell: ...

    def all(self) -> Sequence[ReadCell]: ...

    @property
    def directory(self) -> ReadCell: ...


class Fetch(Protocol):
    """Runs a statement in a cell; a `listing` (a list, a report) may be served by a
    fresh hot standby, other reads by the primary (read-your-writes)."""

    def __call__(
        self, cell: ReadCell, statement: Statement, *, listing: bool = False
    ) -> Awaitable[list[Row]]: ...


def merchant_of(found: object, owner: str = "merchant_id") -> UUID:
    """The merchant of a read-model row or of an aggregate (`owner`: the field that
    names it, "id" for a merchant itself)."""
    if isinstance(found, Mapping):
        merchant: UUID = found[owner]
    else:
        merchant = getattr(found, owner)
    return merchant


def owns(merchant: UUID | None, found: object, owner: str = "merchant_id") -> bool:
    """Whether a caller of `merchant` (None: staff, any merchant) may see `found`."""
    return merchant is None or merchant_of(found, owner) == merchant


def get_owned(
    kind: str,
    id: UUID,  # noqa: A002  # the object's id, as every caller names it
    merchant: UUID | None,
    lookups: Iterable[Callable[[UUID], T | None]],
    *,
    missing: str | None = None,
    owner: str = "merchant_id",
) -> T:
    """The object of `kind` with this id, found by the first lookup that knows it
    (one per cell), if `merchant` owns it; else NotFound, the same for another
    merchant's object as for an unknown id."""
    for lookup in lookups:
        found = lookup(id)
        if found is not None:
            if owns(merchant, found, owner):
                return found
            break
    raise NotFound(missing or f"no such {kind}")


def merge(listing: Listing, pages: Iterable[Sequence[Row]], limit: int) -> list[Row]:
    """The newest limit + 1 rows of pages that are each newest first. Keyset
    positions are global, so each cell's best rows merge into the best page."""
    merged = heapq.merge(*pages, key=listing.position, reverse=True)
    return list(merged)[: limit + 1]


class Reader:
    def __init__(self, cells: Cells, scope: Scope, *, fetch: Fetch | None = None) -> None:
        self.scope = scope
        self._router = cells
        self._fetch = fetch
        merchant = scope.merchant_id
        # A merchant reads in its own cell; staff roles read across every cell.
        self.cells = [cells.for_merchant(merchant)] if merchant else list(cells.all())

    def cell_of(self, merchant_id: UUID) -> ReadCell:
        """The cell of a merchant whose row the caller was already allowed to see."""
        return self._router.for_merchant(merchant_id)

    def _cells_for(self, listing: Listing) -> list[ReadCell]:
        # Merchants live in the directory cell only.
        return [self._router.directory] if listing is MERCHANT_LIST else self.cells

    # Synchronous reads, on each cell's pool (REST) -------------------------------------

    def get_owned(self, kind: str, id: UUID, *, missing: str | None = None) -> Row:  # noqa: A002
        """The read-model row of `kind` with this id, if this reader's merchant owns it."""
        listing = LISTINGS[kind]

        def lookup_in(cell: ReadCell) -> Callable[[UUID], Row | None]:
            return lambda uuid: sql.first(cell.read.run(sql.by_ids(listing, [uuid])))

        lookups = [lookup_in(cell) for cell in self._cells_for(listing)]
        merchant = self.scope.merchant_id
        return get_owned(kind, id, merchant, lookups, missing=missing, owner=listing.owner)

    def position(
        self,
        kind: str,
        id: UUID | None,  # noqa: A002
        *,
        missing: str | None = None,
    ) -> Keyset | None:
        """Where a page starts after `id`: an object the caller may see, else NotFound."""
        if id is None:
            return None
        row = self.get_owned(kind, id, missing=missing or f"no such {kind} to start after")
        return LISTINGS[kind].position(row)

    def window(
        self,
        kind: str,
        *,
        limit: int,
        starting_after: UUID | None = None,
        ending_before: UUID | None = None,
        filters: Filters = NO_FILTERS,
    ) -> Window:
        """A page of `kind` from the cursors' ids (objects the caller may see)."""
        missing = f"no such {kind}"  # as a GET of that object would answer
        return Window(
            sql.clamp(limit),
            after=self.position(kind, starting_after, missing=missing),
            before=self.position(kind, ending_before, missing=missing),
            filters=filters,
        )

    def payments(
        self,
        window: Window,
        *,
        status: str | None = None,
        customer_id: UUID | None = None,
        relay_failed: bool | None = None,
    ) -> Page:
        pages = [
            cell.read.payments.list_payments(
                merchant_id=self.scope.merchant_id,
                limit=window.limit,
                status=status,
                customer_id=customer_id,
                relay_failed=relay_failed,
                after=window.after,
                before=window.before,
                filters=window.filters,
            )
            for cell in self.cells
        ]
        return self._merged(PAYMENT_LIST, pages, window)

    def refunds(self, window: Window) -> Page:
        pages = [cell.read.payments.list_refunds(self.scope, window) for cell in self.cells]
        return self._merged(REFUND_LIST, pages, window)

    def customers(self, window: Window) -> Page:
        pages = [cell.read.directory.list_customers(self.scope, window) for cell in self.cells]
        return self._merged(CUSTOMER_LIST, pages, window)

    def settlements(self, window: Window, *, status: str | None = None) -> Page:
        pages = []
        for cell in self.cells:
            rows, more = cell.read.settlements.page(
                merchant_id=self.scope.merchant_id,
                limit=window.limit,
                status=status,
                after=window.after,
                before=window.before,
                filters=window.filters,
            )
            pages.append(Page(rows, more))
        return self._merged(SETTLEMENT_LIST, pages, window)

    def disputes(
        self, window: Window, *, status: str | None = None, payment_id: UUID | None = None
    ) -> Page:
        pages = [
            cell.read.disputes.page(self.scope, window, status=status, payment_id=payment_id)
            for cell in self.cells
        ]
        return self._merged(DISPUTE_LIST, pages, window)

    @staticmethod
    def _merged(listing: Listing, pages: Sequence[Page], window: Window) -> Page:
        limit = window.limit
        if window.oldest_first:
            # Each cell's page holds its rows just newer than the cursor: the page is
            # the `limit` of them nearest the cursor, the oldest of the merged rows.
            rows = merge(listing, [page.rows for page in pages], len(pages) * limit)
            more = any(page.has_more for page in pages) or len(rows) > limit
            return Page(rows[-limit:], more)
        rows = merge(listing, [page.rows for page in pages], limit)
        more = any(page.has_more for page in pages) or len(rows) > limit
        return Page(rows[:limit], more)

    # Asynchronous reads, through `fetch` (GraphQL) -------------------------------------

    async def _run(
        self, cell: ReadCell, statement: Statement, *, listing: bool = False
    ) -> list[Row]:
        assert self._fetch is not None, "async reads need a fetch"
        return await self._fetch(cell, statement, listing=listing)

    async def everywhere(self, statement: Statement, *, listing: bool = False) -> list[Row]:
        """The statement's rows from every cell of the caller, one cell after another."""
        runs = (self._run(cell, statement, listing=listing) for cell in self.cells)
        pages = await asyncio.gather(*runs)
        return [row for page in pages for row in page]

    async def newest(self, listing: Listing, statement: Statement, *, limit: int) -> list[Row]:
        """Up to limit + 1 rows of a page statement of `listing`, merged across cells."""
        runs = (self._run(cell, statement, listing=True) for cell in self.cells)
        return merge(listing, await asyncio.gather(*runs), limit)

    async def by_ids(self, kind: str, ids: Sequence[UUID]) -> dict[UUID, Row]:
        """The rows of these ids that the caller's merchant owns."""
        listing = LISTINGS[kind]
        statement = sql.by_ids(listing, ids)
        cells = self._cells_for(listing)
        pages = await asyncio.gather(*(self._run(cell, statement) for cell in cells))
        merchant = self.scope.merchant_id
        return {
            row["id"]: row for page in pages for row in page if owns(merchant, row, listing.owner)
        }

    def __repr__(self) -> str:
        return f"Reader({self.scope!r}, cells={[cell.name for cell in self.cells]})"
