"""A request's database budget (issue 12): checkouts, eventsourcing's retries and each
statement all end when it does; outside a budget (workers) nothing changes."""

from __future__ import annotations

import time
import uuid

import pytest
from eventsourcing.persistence import OperationalError

from devtools.localservices import free_port
from paysource.adapters.postgres.datastore import datastore, eventsourcing_env
from paysource.adapters.postgres.pools import budgeted_recorder
from paysource.application.deadlines import DatabaseBudgetSpent, database_budget
from paysource.application.eventlog import EventStore
from paysource.domain.payment import Payment


def test_the_budget_bounds_the_event_stores_ten_retries_when_postgres_is_gone(
    database_url: str,
) -> None:
    store = EventStore(eventsourcing_env(database_url, pool_size=1, max_overflow=0))
    kwargs = store.recorder.datastore.pool.kwargs  # type: ignore[attr-defined]
    kwargs["port"] = free_port()  # nothing listens there: Postgres is gone
    budgeted_recorder(store.recorder)
    started = time.monotonic()
    try:
        with database_budget(0.5), pytest.raises(DatabaseBudgetSpent):
            store.get(uuid.uuid4(), Payment)
    finally:
        store.close()
    # eventsourcing tries 10 times, each waiting out the pool's 2 s, without a budget.
    assert time.monotonic() - started < 1.0


def test_a_statement_is_cut_off_where_the_budget_ends(database_url: str) -> None:
    views = datastore(database_url, pool_size=1)
    started = time.monotonic()
    try:
        with database_budget(0.3), pytest.raises(OperationalError, match="statement timeout"):  # noqa: SIM117
            with views.get_connection() as conn:
                conn.execute("SELECT pg_sleep(5)")
    finally:
        views.close()
    assert time.monotonic() - started < 1.0


def test_outside_a_budget_statements_are_not_limited(database_url: str) -> None:
    views = datastore(database_url, pool_size=1)
    try:
        with views.get_connection() as conn:
            row = conn.execute("SHOW statement_timeout").fetchone()
    finally:
        views.close()
    assert row is not None
    assert row["statement_timeout"] == "0"
