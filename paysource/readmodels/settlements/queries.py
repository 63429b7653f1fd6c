"""The reads of the `settlements` read model: waiting items, and settlements."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.domain.settlement import Item, ItemKind
from paysource.readmodels import sql
from paysource.readmodels.settlements.schema import ITEMS, SETTLEMENTS
from paysource.readmodels.sql import (
    NO_FILTERS,
    Filters,
    Keyset,
    Listing,
    Row,
    Scope,
    Statement,
    Where,
    Window,
)

# A settlement belongs to no customer: "NULL = %s" selects none for a customer.
SETTLEMENT_LIST = Listing("settlement", SETTLEMENTS, "s", "created_at", "NULL")


def page(
    scope: Scope,
    *,
    limit: int,
    after: Keyset | None = None,
    status: str | None = None,
    before: Keyset | None = None,
    filters: Filters = NO_FILTERS,
) -> Statement:
    """Newest first, keyset-paginated by (created_at, id)."""
    where = Where().scoped(SETTLEMENT_LIST, scope).equal("s.status", status)
    return sql.windowed(SETTLEMENT_LIST, where, Window(limit, after, before, filters))


def waiting_items(*, merchant_id: UUID, currency: str, until: datetime, limit: int) -> Statement:
    """Items no settlement holds and not on hold, that happened at or before `until`,
    oldest first."""
    return Statement(
        f"SELECT {ITEMS.select('i')} FROM {ITEMS.name} i"  # noqa: S608
        " WHERE i.merchant_id = %s AND i.currency = %s"
        " AND i.settlement_id IS NULL AND i.hold IS NULL AND i.occurred_at <= %s"
        " ORDER BY i.occurred_at, i.kind, i.ref_id LIMIT %s",
        (merchant_id, currency, until, limit),
    )


def due(*, until: datetime) -> Statement:
    """(merchant, currency) pairs with captures or refunds waiting at `until` (debits
    carried in, corrections among them, wait for those)."""
    return Statement(
        "SELECT DISTINCT i.merchant_id, currency FROM settleable_items i"
        " WHERE settlement_id IS NULL AND hold IS NULL AND occurred_at <= %s"
        " AND kind NOT IN ('carried_forward', 'correction')"
        # A merchant moving or moved to another cell is settled there, not here.
        " AND NOT EXISTS (SELECT 1 FROM moved_out_merchants m"
        " WHERE m.merchant_id = i.merchant_id)"
        " ORDER BY i.merchant_id, currency",
        (until,),
    )


HELD_ITEMS = Statement(
    "SELECT hold, count(*) AS n FROM settleable_items"
    " WHERE hold IS NOT NULL AND settlement_id IS NULL GROUP BY hold ORDER BY hold"
)


class SettlementsQueries:
    """The statements above, run on a cell's synchronous pool."""

    def __init__(self, datastore: PostgresDatastore, lists: sql.Lists | None = None) -> None:
        self.datastore = datastore
        self.lists = lists or (lambda: datastore)

    def waiting_items(
        self, *, merchant_id: UUID, currency: str, until: datetime, limit: int
    ) -> list[Item]:
        statement = waiting_items(
            merchant_id=merchant_id, currency=currency, until=until, limit=limit
        )
        return [
            Item(
                ItemKind(r["kind"]), r["ref_id"], r["payment_id"], r["amount_minor"], r["fee_minor"]
            )
            for r in sql.run(self.datastore, statement)
        ]

    def due(self, *, until: datetime) -> list[tuple[UUID, str]]:
        rows = sql.run(self.datastore, due(until=until))
        return [(row["merchant_id"], row["currency"]) for row in rows]

    def page(
        self,
        *,
        merchant_id: UUID | None,
        limit: int,
        status: str | None = None,
        after: Keyset | None = None,
        before: Keyset | None = None,
        filters: Filters = NO_FILTERS,
    ) -> tuple[list[Row], bool]:
        window = Window(sql.clamp(limit), after, before, filters)
        found = sql.run_page(self.lists(), page, Scope(merchant_id), window, status=status)
        return found.rows, found.has_more

    def held_items(self) -> list[tuple[str, int]]:
        """Unsettled items held out of settlements, by hold (metrics)."""
        return [(row["hold"], int(row["n"])) for row in sql.run(self.datastore, HELD_ITEMS)]

    def settlement_row(self, settlement_id: UUID) -> Row | None:
        return sql.first(sql.run(self.datastore, sql.by_ids(SETTLEMENT_LIST, [settlement_id])))
