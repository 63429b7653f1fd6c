"""Postgres plumbing shared by the event store, the read models and the workers."""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing import persistence as es_persistence
from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from paysource.adapters.postgres.health import OutageGate
from paysource.adapters.postgres.pools import budgeted
from paysource.application.deadlines import DatabaseBudgetSpent
from paysource.application.eventlog import LOG_NAME, Wakeup

__all__ = ["DATABASE_DOWN", "OutageGate", "datastore", "eventsourcing_env"]

log = logging.getLogger(__name__)

# eventsourcing NOTIFYs this channel (its events table's name) on every insert.
EVENTS_CHANNEL = f"{LOG_NAME}_events"


# Postgres unreachable or a pool exhausted, wherever it surfaces: our reads use psycopg
# and its pools directly, eventsourcing wraps the same errors in its own classes.
# (Not its other PersistenceErrors: a ProgrammingError is a bug, not an outage.)
DATABASE_DOWN: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
    DatabaseBudgetSpent,
)
CONNECT_TIMEOUT_S = 2


def eventsourcing_env(
    database_url: str,
    *,
    pool_size: int,
    max_overflow: int,
    lock_timeout_s: int = 5,
) -> dict[str, str]:
    """Our settings, mapped explicitly onto eventsourcing's environment keys."""
    params = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname", "paysource")),
        "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(params.get("port", "5432")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(params.get("password", "")),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        # Also the wait for a pooled connection. eventsourcing tries 10 times; under a
        # request budget (pools.py) the tries share the budget instead.
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S),
        "POSTGRES_PRE_PING": "y",
        # Bound the wait for the events table lock, so a stuck writer shows up as an
        # error instead of piling up every request behind it.
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout_s),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        # Tables are created once by `paysource migrate`: several processes creating
        # them at start-up clash ("tuple concurrently updated").
        "CREATE_TABLE": "no",
        # Left off on purpose: with it, eventsourcing drops tracking rows.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
        # Its inserts refuse the writes of a merchant a move sealed (migration 027).
        "PROCESS_RECORDER_TOPIC": "paysource.adapters.postgres.recorder:FencedProcessRecorder",
    }


class ThreadConnections:
    """One autocommit connection per thread, for the simulators of external rails:
    they stand in for another system, so they keep out of our pools and transactions.
    Their backends carry the rail's `name` as application_name, so what the stand-in
    costs the database can be told apart (bench/payments.py's `db_rail_cpu_…`)."""

    def __init__(self, database_url: str, *, schema_sql: str, name: str) -> None:
        self._url = database_url
        self._name = name
        self._local = threading.local()
        with self._connect() as conn, conn.transaction():
            # Several processes start at once; DDL of the same objects would clash.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
            conn.execute(schema_sql.encode())

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._url, autocommit=True, application_name=self._name)

    def get(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._connect()
            self._local.conn = conn
        return conn


class NotificationListener:
    """LISTENs to the events channel and wakes the followers of this process.

    Followers poll on a timer as well, so a lost notification or a dropped listening
    connection only delays them; this thread reconnects on its own.
    """

    def __init__(self, database_url: str, wakeup: Wakeup) -> None:
        self._url = database_url
        self._wakeup = wakeup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as error:
                log.warning("listener lost its connection, reconnecting: %s", error)
                self._stop.wait(1.0)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=0.5, stop_after=1):
                    self._wakeup.notify()


def datastore(database_url: str, *, pool_size: int, max_overflow: int = 0) -> PostgresDatastore:
    """An eventsourcing datastore (a psycopg pool) for read models and their tracking."""
    params = conninfo_to_dict(database_url)
    found = PostgresDatastore(
        dbname=str(params.get("dbname", "paysource")),
        host=str(params.get("host", "127.0.0.1")),
        port=str(params.get("port", "5432")),
        user=str(params.get("user", "postgres")),
        password=str(params.get("password", "")),
        connect_timeout=CONNECT_TIMEOUT_S,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pre_ping=True,
        idle_in_transaction_session_timeout=30,
    )
    budgeted(found, database_url)
    return found


def datastore_beside(other: PostgresDatastore, *, pool_size: int) -> PostgresDatastore:
    """Another datastore on `other`'s database, with a pool of its own."""
    params = other.pool.kwargs
    assert isinstance(params, dict)  # eventsourcing passes the connection keywords
    wanted = ("dbname", "host", "port", "user", "password")
    url = make_conninfo(**{key: str(params[key]) for key in wanted if params.get(key)})
    return datastore(url, pool_size=pool_size)


def seed_partitions(database_url: str, *, prefix: str, names: list[str]) -> int | None:
    """Start processor partitions that have no position yet where the previous layout
    left off, not at the first event (which would relay all history to the acquirer
    again). Returns the position used, or None when nothing was seeded.

    The lowest position of the old layout is used: events after it that an old
    partition had handled are seen again, which the processor tolerates (it checks
    each payment's status, and acquirer calls repeat their idempotency keys).
    """
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('seed-partitions'))")
        rows = conn.execute(
            "SELECT application_name, notification_id FROM paysource_tracking"
            " WHERE application_name LIKE %s",
            (prefix + "%",),
        ).fetchall()
        known = {str(name): int(position) for name, position in rows}
        missing = [name for name in names if name not in known]
        old = [position for name, position in known.items() if name not in names]
        if not missing or not old:
            return None
        start = min(old)
        conn.cursor().executemany(
            "INSERT INTO paysource_tracking (application_name, notification_id)"
            " VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(name, start) for name in missing],
        )
    log.warning(
        "processor partitions changed: %d new partitions start at position %d", len(missing), start
    )
    return start
