"""The reads of the `disputes` read model: pages with filters, and rows by id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.readmodels import sql
from paysource.readmodels.disputes.schema import DISPUTES
from paysource.readmodels.sql import (
    NO_FILTERS,
    Filters,
    Keyset,
    Listing,
    Page,
    Row,
    Scope,
    Statement,
    Where,
    Window,
)

# A dispute belongs to no customer of ours: "NULL = %s" selects none for a customer.
DISPUTE_LIST = Listing("dispute", DISPUTES, "d", "created_at", "NULL")


def page(
    scope: Scope,
    *,
    limit: int,
    after: Keyset | None = None,
    before: Keyset | None = None,
    filters: Filters = NO_FILTERS,
    status: str | None = None,
    payment_id: UUID | None = None,
) -> Statement:
    """Newest first, keyset-paginated by (created_at, id)."""
    where = Where().scoped(DISPUTE_LIST, scope).equal("d.status", status)
    where.equal("d.payment_id", payment_id)
    return sql.windowed(DISPUTE_LIST, where, Window(limit, after, before, filters))


def of_payments(payment_ids: Sequence[UUID]) -> Statement:
    """The disputes of these payments (at most one each), oldest first."""
    return Statement(
        f"{DISPUTE_LIST.select} WHERE d.payment_id = ANY(%s) ORDER BY d.created_at, d.id",
        (list(payment_ids),),
    )


def of_customer(merchant_id: UUID, customer_id: UUID) -> Statement:
    """The disputes of a customer's payments (for its erasure)."""
    return Statement(
        "SELECT d.id FROM disputes d JOIN payments p ON p.id = d.payment_id"
        " WHERE p.merchant_id = %s AND p.customer_id = %s ORDER BY d.id",
        (merchant_id, customer_id),
    )


def open_past_due(*, now: datetime, limit: int) -> Statement:
    """Disputes still waiting for evidence after their due date (to expire them)."""
    return Statement(
        "SELECT id, merchant_id FROM disputes d WHERE status = 'needs_response'"
        " AND due_by < %s"
        # A merchant moving or moved to another cell is dealt with there.
        " AND NOT EXISTS (SELECT 1 FROM moved_out_merchants m"
        " WHERE m.merchant_id = d.merchant_id)"
        " ORDER BY due_by, id LIMIT %s",
        (now, limit),
    )


class DisputesQueries:
    """The statements above, run on a cell's synchronous pool."""

    def __init__(self, datastore: PostgresDatastore, lists: sql.Lists | None = None) -> None:
        self.datastore = datastore
        self.lists = lists or (lambda: datastore)

    def page(
        self,
        scope: Scope,
        window: Window,
        *,
        status: str | None = None,
        payment_id: UUID | None = None,
    ) -> Page:
        return sql.run_page(self.lists(), page, scope, window, status=status, payment_id=payment_id)

    def of_customer(self, *, merchant_id: UUID, customer_id: UUID) -> list[UUID]:
        """The primary's rows (read-your-writes), not a standby's."""
        rows = sql.run(self.datastore, of_customer(merchant_id, customer_id))
        return [row["id"] for row in rows]

    def past_due(self, *, now: datetime, limit: int = 500) -> list[Row]:
        return sql.run(self.datastore, open_past_due(now=now, limit=limit))
