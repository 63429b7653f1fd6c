"""The reads of the `directory` read model: merchant and customer profiles."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.readmodels import sql
from paysource.readmodels.directory.schema import CUSTOMERS, MERCHANTS
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

CUSTOMER_LIST = Listing("customer", CUSTOMERS, "c", "created_at", "c.id")
# A merchant row is its own merchant, and belongs to no customer.
MERCHANT_LIST = Listing("merchant", MERCHANTS, "m", "created_at", "NULL", owner="id")


def customer_page(
    scope: Scope,
    *,
    limit: int,
    after: Keyset | None = None,
    before: Keyset | None = None,
    filters: Filters = NO_FILTERS,
) -> Statement:
    where = Where().scoped(CUSTOMER_LIST, scope)
    return sql.windowed(CUSTOMER_LIST, where, Window(limit, after, before, filters))


class DirectoryQueries:
    """The statements above, run on a cell's synchronous pool."""

    def __init__(self, datastore: PostgresDatastore, lists: sql.Lists | None = None) -> None:
        self.datastore = datastore
        self.lists = lists or (lambda: datastore)

    def list_customers(self, scope: Scope, window: Window) -> Page:
        return sql.run_page(self.lists(), customer_page, scope, window)

    def merchant(self, merchant_id: UUID) -> Row | None:
        return sql.first(sql.run(self.datastore, sql.by_ids(MERCHANT_LIST, [merchant_id])))
