"""What every read model's queries are made of: tables, statements, scopes, keysets.

A query is built once, as a `Statement` (SQL text and its parameters), by a pure
function in `readmodels/<name>/queries.py`. Who runs it is the caller's choice: the
cell's synchronous pool (`run`, for REST, processes and the CLI) or GraphQL's async
pool. Either way the SQL is the same text, written in one place (docs/decisions.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

Row = dict[str, Any]
# Where a list reads from, asked at each read: the cell's pool, or a fresh hot standby
# (adapters/postgres/replicas.py) when the composition root configured one.
Lists = Callable[[], PostgresDatastore]
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Table:
    """A read model's table (or view) and its columns, declared once: its projection
    writes them, its queries select them, and a test holds them equal to the database's
    (tests/integration/test_readmodel_columns.py)."""

    name: str
    columns: tuple[str, ...]
    # Computed by Postgres (GENERATED ... STORED): read, never written.
    generated: tuple[str, ...] = ()

    @property
    def written(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.generated)

    def select(self, alias: str) -> str:
        return ", ".join(f"{alias}.{column}" for column in self.columns)


@dataclass(frozen=True, slots=True)
class Statement:
    text: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class Keyset:
    """A row's place in a newest-first list: its time, then its id."""

    at: datetime
    id: UUID


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose rows a read may return: one merchant's (None: any, for staff roles), and
    within it one customer's (None: all of them)."""

    merchant_id: UUID | None = None
    customer_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    """What every list may be narrowed by: its time (`created[gte|gt|lte|lt]`) and,
    for the kinds that carry metadata, metadata values (`metadata[key]=value`)."""

    created_gte: datetime | None = None
    created_gt: datetime | None = None
    created_lte: datetime | None = None
    created_lt: datetime | None = None
    metadata: tuple[tuple[str, str], ...] = ()


NO_FILTERS = Filters()


@dataclass(frozen=True, slots=True)
class Window:
    """Which page of a list: the rows just older than `after` (`starting_after`), or
    just newer than `before` (`ending_before`), or the newest; filtered."""

    limit: int
    after: Keyset | None = None
    before: Keyset | None = None
    filters: Filters = NO_FILTERS

    @property
    def oldest_first(self) -> bool:
        # Rows just newer than `before` are the oldest of the newer ones.
        return self.before is not None and self.after is None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a keyset-paginated read: fetch `limit + 1` rows, keep `limit`."""

    rows: list[Row]
    has_more: bool

    @classmethod
    def of(cls, rows: Sequence[Row], limit: int, *, oldest_first: bool = False) -> Page:
        kept = list(rows[:limit])
        # A page is always shown newest first, whichever end it was read from.
        return cls(rows=kept[::-1] if oldest_first else kept, has_more=len(rows) > limit)


@dataclass(frozen=True, slots=True)
class Listing:
    """How to select, scope and order one kind of row, newest first."""

    kind: str
    table: Table
    alias: str
    time: str
    # The column that names the row's customer (an SQL expression); "NULL" when the
    # kind belongs to no customer, so that `NULL = %s` selects nothing for a customer.
    customer_column: str
    # The column that names the row's merchant ("id" when the row is a merchant).
    owner: str = "merchant_id"
    # Extra selected expressions and joins (a refund carries its payment's customer).
    extra: str = ""
    join: str = ""

    @property
    def select(self) -> str:
        columns = self.table.select(self.alias) + self.extra
        return f"SELECT {columns} FROM {self.table.name} {self.alias}{self.join}"  # noqa: S608  # fixed names

    @property
    def merchant(self) -> str:
        return f"{self.alias}.{self.owner}"

    def position(self, row: Row) -> Keyset:
        return Keyset(row[self.time], row["id"])


@dataclass
class Where:
    """A conjunction of conditions and their parameters, built up in order."""

    clauses: list[str] = field(default_factory=lambda: ["TRUE"])
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> Where:
        self.clauses.append(clause)
        self.params.extend(params)
        return self

    def equal(self, column: str, value: Any) -> Where:
        return self if value is None else self.add(f"{column} = %s", value)

    def scoped(self, listing: Listing, scope: Scope) -> Where:
        self.equal(listing.merchant, scope.merchant_id)
        return self.equal(listing.customer_column, scope.customer_id)

    def before(self, listing: Listing, after: Keyset | None) -> Where:
        if after is None:
            return self
        alias = listing.alias
        return self.add(f"({alias}.{listing.time}, {alias}.id) < (%s, %s)", after.at, after.id)

    def newer_than(self, listing: Listing, before: Keyset | None) -> Where:
        if before is None:
            return self
        alias = listing.alias
        return self.add(f"({alias}.{listing.time}, {alias}.id) > (%s, %s)", before.at, before.id)

    def filtered(self, listing: Listing, filters: Filters) -> Where:
        column = f"{listing.alias}.{listing.time}"
        for operator, bound in (
            (">=", filters.created_gte),
            (">", filters.created_gt),
            ("<=", filters.created_lte),
            ("<", filters.created_lt),
        ):
            if bound is not None:
                self.add(f"{column} {operator} %s", bound)
        if filters.metadata:
            if "metadata" not in listing.table.columns:
                raise ValueError(f"{listing.kind} rows carry no metadata")
            # jsonb containment: served by the GIN index where there is one.
            self.add(f"{listing.alias}.metadata @> %s::jsonb", json.dumps(dict(filters.metadata)))
        return self

    @property
    def text(self) -> str:
        return " AND ".join(self.clauses)


def page(listing: Listing, where: Where, *, limit: int, oldest_first: bool = False) -> Statement:
    """Up to limit + 1 rows (the extra one says there are more), newest first (or
    oldest first, for a page read back from `ending_before`)."""
    alias, time = listing.alias, listing.time
    order = "ASC" if oldest_first else "DESC"
    return Statement(
        f"{listing.select} WHERE {where.text}"  # fixed names, values bound
        f" ORDER BY {alias}.{time} {order}, {alias}.id {order} LIMIT %s",
        (*where.params, limit + 1),
    )


def windowed(listing: Listing, where: Where, window: Window) -> Statement:
    """`where`, narrowed to the window's filters and keyset bounds, as a page."""
    where.filtered(listing, window.filters).before(listing, window.after)
    where.newer_than(listing, window.before)
    return page(listing, where, limit=window.limit, oldest_first=window.oldest_first)


def by_ids(listing: Listing, ids: Iterable[UUID]) -> Statement:
    return Statement(f"{listing.select} WHERE {listing.alias}.id = ANY(%s)", (list(ids),))


def clamp(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


def run(datastore: PostgresDatastore, statement: Statement) -> list[Row]:
    """Run a statement on a cell's synchronous pool."""
    with datastore.cursor() as curs:
        return list(curs.execute(statement.text, statement.params).fetchall())


def run_page(
    datastore: PostgresDatastore,
    build: Callable[..., Statement],
    scope: Scope,
    window: Window,
    **criteria: Any,
) -> Page:
    """One page of `build`'s listing for `window` (and any other `criteria`), run on a
    cell's synchronous pool and cut to the window's limit."""
    statement = build(
        scope,
        limit=window.limit,
        after=window.after,
        before=window.before,
        filters=window.filters,
        **criteria,
    )
    return Page.of(run(datastore, statement), window.limit, oldest_first=window.oldest_first)


def first(rows: Sequence[Row]) -> Row | None:
    return rows[0] if rows else None


def count(rows: Sequence[Row]) -> int:
    return int(rows[0]["n"]) if rows else 0


def customer_pages(
    listing: Listing, owners: Sequence[tuple[UUID, UUID]], *, limit: int, after: Keyset | None
) -> Statement:
    """The limit + 1 newest rows of each (merchant, customer) in `owners`, in one
    statement (a LATERAL join per customer), so a list of customers with their rows
    costs one query, not one per customer."""
    alias, time = listing.alias, listing.time
    where = Where().add(f"{alias}.merchant_id = k.merchant_id")
    where.add(f"{alias}.customer_id = k.customer_id").before(listing, after)
    return Statement(
        "SELECT x.* FROM unnest(%s::uuid[], %s::uuid[]) AS k(merchant_id, customer_id)"  # noqa: S608
        f" CROSS JOIN LATERAL ({listing.select} WHERE {where.text}"
        f" ORDER BY {alias}.{time} DESC, {alias}.id DESC LIMIT %s) x",
        ([m for m, _ in owners], [c for _, c in owners], *where.params, limit + 1),
    )
