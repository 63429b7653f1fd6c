"""Connection pools that keep to the request's database budget.

eventsourcing builds its pool inside `PostgresDatastore` with no hook for a per-call
timeout or the checkout check, so `budgeted` swaps in a `BudgetedPool` built from the
same public settings when the datastore is built. Under a request budget
(`application.deadlines`) a checkout waits at most what is left, and every statement
of that checkout is cut off at the same moment (`statement_timeout`, which also
bounds lock waits); without a budget (workers, CLI) the pool's own timeout applies
and statements are not limited.
"""

from __future__ import annotations

import weakref
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing.postgres import ConnectionPool, PostgresDatastore
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from paysource.application.deadlines import bounded_wait_s, remaining_s, spent

# psycopg_pool retries a failed connection with a backoff of 1, 2, 4… s for 5 minutes
# by default, and while one such attempt sleeps no new one starts: after an outage
# the pool could be seconds away from its next try. With 0 a failed attempt is
# retried once at once and dropped; the next checkout that finds no connection starts
# a fresh one, and the health probe (health.py) says when Postgres is back.
RECONNECT_TIMEOUT_S = 0.0


def statement_limit_ms() -> int:
    """The request's remaining budget in ms (at least 1), or 0 (no limit) outside one."""
    left = remaining_s()
    return 0 if left is None else max(1, int(left * 1000))


def check_and_limit(conn: psycopg.Connection[Any]) -> None:
    """The checkout check: one round trip, as `check_connection`, that proves the
    connection alive and sets this checkout's statement timeout.

    Outside a budget (workers, the CLI) a connection already unlimited is handed out
    without it: a worker checks out a connection for every batch of every follower, and
    the round trip doubled each of those checkouts. A dead connection then fails its first
    statement instead: eventsourcing's recorders retry, followers back off and retry.
    """
    limit_ms = statement_limit_ms()
    if limit_ms == 0 and _UNLIMITED.get(conn):
        return
    conn.execute(sql.SQL("SET statement_timeout = {}").format(limit_ms))
    _UNLIMITED[conn] = limit_ms == 0


# Connections whose statement timeout is known to be 0 (set by check_and_limit).
_UNLIMITED: weakref.WeakKeyDictionary[psycopg.Connection[Any], bool] = weakref.WeakKeyDictionary()


class BudgetedPool(ConnectionPool[Any]):
    def getconn(self, timeout: float | None = None) -> Any:
        wait_s = bounded_wait_s(self.timeout if timeout is None else timeout)
        try:
            return super().getconn(wait_s)
        except psycopg_pool.PoolTimeout:
            # Not eventsourcing's OperationalError: its recorders would retry that.
            if (left := remaining_s()) is not None and left <= 0.01:
                raise spent() from None
            raise


# What eventsourcing's datastore takes itself; every other parameter of a database URL
# (target_session_attrs, sslmode, application_name…) is passed on by `budgeted`.
OWN_PARAMETERS = frozenset({"dbname", "host", "port", "user", "password"})


def connection_extras(database_url: str | None) -> dict[str, str]:
    """The URL's other connection parameters: `target_session_attrs=read-write` on a
    multi-host URL is what makes a failover cluster's new primary found (docs)."""
    if not database_url:
        return {}
    params = conninfo_to_dict(database_url)
    return {key: str(value) for key, value in params.items() if key not in OWN_PARAMETERS}


def _kwargs(pool: ConnectionPool[Any]) -> dict[str, Any]:
    kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs
    return dict(kwargs or {})


def budgeted(datastore: PostgresDatastore, database_url: str | None = None) -> BudgetedPool:
    """Give `datastore` a BudgetedPool with the settings of its own, plus the URL's other
    parameters (before any request: eventsourcing may have opened it while setting up
    its recorder)."""
    old = datastore.pool
    pool = BudgetedPool(
        connection_class=old.connection_class,
        kwargs={**_kwargs(old), **connection_extras(database_url)},
        min_size=old.min_size,
        max_size=old.max_size,
        open=False,
        configure=datastore.after_connect_func(),
        check=check_and_limit,
        timeout=old.timeout,
        max_waiting=old.max_waiting,
        max_lifetime=old.max_lifetime,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
        get_password_func=old.get_password_func,
        name=old.name,
    )
    datastore.pool = pool
    if not old.closed:
        pool.open(wait=False)
        old.close()
    return pool


def budgeted_recorder(recorder: object, database_url: str | None = None) -> BudgetedPool | None:
    """The same for the datastore inside an eventsourcing recorder."""
    datastore = getattr(recorder, "datastore", None)
    if not isinstance(datastore, PostgresDatastore):
        return None
    return budgeted(datastore, database_url)
