"""Postgres plumbing shared by the event store, the read models and the workers."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing import persistence as es_persistence
from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from paysource.application.eventlog import LOG_NAME, Wakeup

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
)
CONNECT_TIMEOUT_S = 2
# psycopg_pool retries a lost connection with exponential backoff for 5 minutes by
# default: after a long outage the next try could be a minute away. Giving up sooner
# lets the next request start a fresh try at once (measured: recovery in 57 to 88 s
# after a 150 s outage before this).
RECONNECT_TIMEOUT_S = 10.0


def bound_reconnects(pool: psycopg_pool.ConnectionPool[Any]) -> None:
    pool.reconnect_timeout = RECONNECT_TIMEOUT_S


def bound_recorder_reconnects(recorder: object) -> None:
    """The same for the pool inside an eventsourcing recorder (not configurable there)."""
    datastore = getattr(recorder, "datastore", None)
    if isinstance(datastore, PostgresDatastore):
        bound_reconnects(datastore.pool)


class OutageGate:
    """Fails requests fast while the database is known to be down.

    A request that meets a database error reports it; from then on requests are
    refused at once (503) instead of each waiting out the driver's retries, and one
    probe connects every `probe_interval_s` until Postgres answers again.
    """

    def __init__(self, database_url: str, *, probe_interval_s: float = 0.5) -> None:
        self._url = database_url
        self._interval = probe_interval_s
        self._lock = threading.Lock()
        self._down = False

    @property
    def down(self) -> bool:
        return self._down

    def report(self) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
        log.warning("database unreachable: refusing requests until it answers again")
        threading.Thread(target=self._probe, name="database-probe", daemon=True).start()

    def _probe(self) -> None:
        while True:
            time.sleep(self._interval)
            try:
                with psycopg.connect(self._url, connect_timeout=1, autocommit=True) as conn:
                    conn.execute("SELECT 1")
            except psycopg.Error:
                continue
            with self._lock:
                self._down = False
            log.warning("database reachable again: serving requests")
            return


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
        # Also the wait for a pooled connection; eventsourcing tries 10 times, so this
        # bounds how long a request hangs when Postgres is gone (10 times 2 s).
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
    }


class ThreadConnections:
    """One autocommit connection per thread, for the simulators of external rails:
    they stand in for another system, so they keep out of our pools and transactions."""

    def __init__(self, database_url: str, *, schema_sql: str, lock_name: str) -> None:
        self._url = database_url
        self._local = threading.local()
        with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
            # Several processes start at once; DDL of the same objects would clash.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_name,))
            conn.execute(schema_sql.encode())

    def get(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self._url, autocommit=True)
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
    bound_reconnects(found.pool)
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
