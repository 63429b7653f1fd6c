"""What rebuild and verify share: one of them per read model at a time, and a small
connection pool of their own beside the live one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from eventsourcing.postgres import PostgresDatastore

from paysource.domain.errors import PaysourceError


class MaintenanceBusy(PaysourceError):
    code = "maintenance_busy"


@contextmanager
def exclusive(names: Sequence[str], datastore: PostgresDatastore) -> Iterator[None]:
    """One rebuild or verify of a read model at a time, in any process: they share
    its scratch schema. Session advisory locks, all held on one connection of its own;
    none is kept when any is taken."""
    keys = [f"paysource-maintenance:{name}" for name in names]
    with datastore.get_connection() as conn:
        taken: list[str] = []
        try:
            for name, key in zip(names, keys, strict=True):
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(hashtext(%s)) AS ok", (key,)
                ).fetchone()
                conn.commit()
                if not (row and row["ok"]):
                    raise MaintenanceBusy(
                        f"another rebuild or verify of {name} is running; try later"
                    )
                taken.append(key)
            yield
        finally:
            for key in taken:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
            conn.commit()


def beside(other: PostgresDatastore, *, pool_size: int) -> PostgresDatastore:
    """Another datastore on `other`'s database with a pool of its own, made with
    eventsourcing directly: a read model imports no adapter of ours."""
    params = other.pool.kwargs
    assert isinstance(params, dict)  # eventsourcing passes the connection keywords
    wanted = ("dbname", "host", "port", "user", "password", "connect_timeout")
    found = {key: str(params[key]) for key in wanted if params.get(key)}
    return PostgresDatastore(
        dbname=found.get("dbname", "paysource"),
        host=found.get("host", "127.0.0.1"),
        port=found.get("port", "5432"),
        user=found.get("user", "postgres"),
        password=found.get("password", ""),
        connect_timeout=float(found.get("connect_timeout", "2")),
        pool_size=pool_size,
        max_overflow=0,
        pre_ping=True,
        idle_in_transaction_session_timeout=30,
    )


@contextmanager
def own_pool(datastore: PostgresDatastore) -> Iterator[PostgresDatastore]:
    """A small pool of its own for the scratch side: rebuild and verify hold one live
    connection locked while scratch catches up, and the live pool (shared with the
    API, a blocked live writer, other projections) must not starve that catch-up."""
    own = beside(datastore, pool_size=3)  # the advisory locks', the replay's, the swap's
    try:
        yield own
    finally:
        own.close()
