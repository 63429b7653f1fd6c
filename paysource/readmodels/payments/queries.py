"""The reads of the `payments` read model, for REST, GraphQL and the processes alike.

Each function builds a `Statement`; `PaymentsQueries` runs them on the cell's
synchronous pool, and GraphQL runs the same statements on its async pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.readmodels import sql
from paysource.readmodels.payments.schema import PAYMENTS, REFUNDS
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

PAYMENT_LIST = Listing("payment", PAYMENTS, "p", "created_at", "p.customer_id")
# A refund row carries its payment's customer: ownership by customer needs it.
REFUND_LIST = Listing(
    "refund",
    REFUNDS,
    "r",
    "created_at",
    "p.customer_id",
    extra=", p.customer_id",
    join=" JOIN payments p ON p.id = r.payment_id",
)


def page(
    scope: Scope,
    *,
    limit: int,
    after: Keyset | None = None,
    status: str | None = None,
    customer_id: UUID | None = None,
    relay_failed: bool | None = None,
    before: Keyset | None = None,
    filters: Filters = NO_FILTERS,
) -> Statement:
    """Newest first, keyset-paginated by (created_at, id)."""
    where = Where().scoped(PAYMENT_LIST, scope).equal("p.status", status)
    where.equal("p.customer_id", customer_id)
    if relay_failed is not None:
        where.add("p.relay_failures <> '{}'" if relay_failed else "p.relay_failures = '{}'")
    return sql.windowed(PAYMENT_LIST, where, Window(limit, after, before, filters))


def refund_page(
    scope: Scope,
    *,
    limit: int,
    after: Keyset | None = None,
    before: Keyset | None = None,
    filters: Filters = NO_FILTERS,
) -> Statement:
    where = Where().scoped(REFUND_LIST, scope)
    return sql.windowed(REFUND_LIST, where, Window(limit, after, before, filters))


def refunds_of(payment_ids: Sequence[UUID]) -> Statement:
    """The refunds of these payments, oldest first."""
    return Statement(
        f"{REFUND_LIST.select} WHERE r.payment_id = ANY(%s) ORDER BY r.created_at, r.id",
        (list(payment_ids),),
    )


def customer_totals(owners: Sequence[tuple[UUID, UUID]]) -> Statement:
    """Per (merchant, customer, currency): payments, captured and refunded sums."""
    return Statement(
        "SELECT merchant_id, customer_id, currency, count(*) AS payments,"
        " sum(amount_captured_minor) AS captured_minor,"
        " sum(amount_refunded_minor) AS refunded_minor FROM payments"
        " WHERE merchant_id = ANY(%s) AND customer_id = ANY(%s)"
        " GROUP BY merchant_id, customer_id, currency ORDER BY currency",
        (sorted({m for m, _ in owners}), sorted({c for _, c in owners})),
    )


def customer_payment_ids(merchant_id: UUID, customer_id: UUID, *, limit: int) -> Statement:
    """Up to `limit` of a customer's payments (for totals as of a moment, rebuilt
    from their events)."""
    return Statement(
        "SELECT id FROM payments WHERE merchant_id = %s AND customer_id = %s LIMIT %s",
        (merchant_id, customer_id, limit),
    )


def count_between(
    *, merchant_id: UUID, customer_id: UUID, since: datetime, until: datetime
) -> Statement:
    return Statement(
        "SELECT count(*) AS n FROM payments WHERE merchant_id = %s"
        " AND customer_id = %s AND created_at >= %s AND created_at < %s",
        (merchant_id, customer_id, since, until),
    )


# Payments with a decision the acquirer refused (a partial index keeps it cheap).
COUNT_RELAY_FAILED = Statement("SELECT count(*) AS n FROM payments WHERE relay_failures <> '{}'")


def expired_holds(*, authorized_before: datetime, limit: int) -> Statement:
    return Statement(
        "SELECT id FROM payments p WHERE status = 'requires_capture'"
        " AND authorized_at < %s"
        # A merchant moving or moved to another cell is dealt with there.
        " AND NOT EXISTS (SELECT 1 FROM moved_out_merchants m"
        " WHERE m.merchant_id = p.merchant_id)"
        " ORDER BY authorized_at LIMIT %s",
        (authorized_before, limit),
    )


class PaymentsQueries:
    """The statements above, run on a cell's synchronous pool."""

    def __init__(self, datastore: PostgresDatastore, lists: sql.Lists | None = None) -> None:
        self.datastore = datastore
        self.lists = lists or (lambda: datastore)

    def list_payments(
        self,
        *,
        merchant_id: UUID | None,
        limit: int,
        status: str | None = None,
        customer_id: UUID | None = None,
        relay_failed: bool | None = None,
        after: Keyset | None = None,
        before: Keyset | None = None,
        filters: Filters = NO_FILTERS,
    ) -> Page:
        """Newest first, after `after` (or before `before`). None merchant: every merchant's."""
        window = Window(sql.clamp(limit), after, before, filters)
        return sql.run_page(
            self.lists(),
            page,
            Scope(merchant_id),
            window,
            status=status,
            customer_id=customer_id,
            relay_failed=relay_failed,
        )

    def list_refunds(self, scope: Scope, window: Window) -> Page:
        return sql.run_page(self.lists(), refund_page, scope, window)

    def payment_row(self, payment_id: UUID) -> Row | None:
        return sql.first(sql.run(self.datastore, sql.by_ids(PAYMENT_LIST, [payment_id])))

    def count_between(
        self, *, merchant_id: UUID, customer_id: UUID, since: datetime, until: datetime
    ) -> int:
        statement = count_between(
            merchant_id=merchant_id, customer_id=customer_id, since=since, until=until
        )
        return sql.count(sql.run(self.datastore, statement))

    def count_relay_failed(self) -> int:
        return sql.count(sql.run(self.datastore, COUNT_RELAY_FAILED))

    def expired_holds(self, *, authorized_before: datetime, limit: int) -> list[UUID]:
        statement = expired_holds(authorized_before=authorized_before, limit=limit)
        return [row["id"] for row in sql.run(self.datastore, statement)]
