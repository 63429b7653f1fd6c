"""The reads of the `transactions` read model: money movements, newest first."""

from __future__ import annotations

from paysource.readmodels import sql
from paysource.readmodels.sql import Keyset, Listing, Scope, Statement, Where
from paysource.readmodels.transactions.schema import TRANSACTIONS

TRANSACTION_LIST = Listing("transaction", TRANSACTIONS, "t", "occurred_at", "t.customer_id")


def page(scope: Scope, *, limit: int, after: Keyset | None = None) -> Statement:
    """Newest first, keyset-paginated by (occurred_at, id)."""
    where = Where().scoped(TRANSACTION_LIST, scope).before(TRANSACTION_LIST, after)
    return sql.page(TRANSACTION_LIST, where, limit=limit)
