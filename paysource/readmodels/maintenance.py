"""Operating the read side: status, rebuild and verify of one read model.

Rebuild and verify replay the log into a scratch schema (`scratch_<name>`), in large
batches, while the live read model keeps serving. Rebuild then swaps the rows in one
transaction that blocks only the projection's writer, never readers; verify compares
scratch and live at the same log position and reports every difference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from paysource.application.eventlog import EventStore
from paysource.domain.errors import PaysourceError
from paysource.readmodels.catalog import PROJECTIONS, build_projection
from paysource.readmodels.figures import count_after
from paysource.readmodels.view import LIVE_SCHEMA, TRACKING_TABLE, ProjectionHandler, View

log = logging.getLogger(__name__)

Progress = Callable[[int, int, float], None]  # (position, head, events per second)


@dataclass(frozen=True, slots=True)
class Status:
    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float


@dataclass
class Difference:
    table: str
    only_live: int
    only_rebuilt: int
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RebuildReport:
    name: str
    events: int
    seconds: float
    position: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def status(store: EventStore, datastore: PostgresDatastore) -> list[Status]:
    """Position, head and lag of every projection (lag: relevant events not yet
    applied, and the age of the oldest of them)."""
    projections = [build_projection(name, datastore) for name in PROJECTIONS]
    positions = [projection.view.position() for projection in projections]
    head = store.head()  # after the positions: a head read first could be behind them
    found = []
    for name, projection, position in zip(PROJECTIONS, projections, positions, strict=True):
        lag_events = count_after(datastore, position, projection.topics)
        lag_seconds = 0.0
        if lag_events:
            oldest = store.select(after=position, limit=1, topics=projection.topics)
            if oldest:
                timestamp: datetime = oldest[0][1].timestamp  # type: ignore[attr-defined]
                lag_seconds = max(0.0, (datetime.now(UTC) - timestamp).total_seconds())
        found.append(Status(name, position, head, lag_events, lag_seconds))
    return found


# Scratch copies -------------------------------------------------------------------------


def scratch_schema(name: str) -> str:
    return f"scratch_{name}"


def _create_scratch(datastore: PostgresDatastore, live: View, schema: str) -> None:
    with datastore.transaction(commit=True) as curs:
        curs.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        curs.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
        for table in (*live.tables, TRACKING_TABLE):
            curs.execute(
                SQL("CREATE TABLE {}.{} (LIKE {}.{} INCLUDING ALL)").format(
                    Identifier(schema),
                    Identifier(table),
                    Identifier(LIVE_SCHEMA),
                    Identifier(table),
                )
            )
        curs.execute(SQL("SET LOCAL search_path TO {}, public").format(Identifier(schema)))
        for statement in live.shadow_ddl():
            curs.execute(statement)  # trusted DDL from the view


def _drop_scratch(datastore: PostgresDatastore, schema: str) -> None:
    with datastore.transaction(commit=True) as curs:
        curs.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


class MaintenanceBusy(PaysourceError):
    code = "maintenance_busy"


@contextmanager
def _exclusive(name: str, datastore: PostgresDatastore) -> Iterator[None]:
    """One rebuild or verify of a read model at a time, in any process: they share
    its scratch schema. A session advisory lock, held on a connection of its own."""
    key = f"paysource-maintenance:{name}"
    with datastore.get_connection() as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s)) AS ok", (key,)).fetchone()
        conn.commit()
        if not (row and row["ok"]):
            raise MaintenanceBusy(f"another rebuild or verify of {name} is running; try later")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
            conn.commit()


def _beside(other: PostgresDatastore, *, pool_size: int) -> PostgresDatastore:
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
def _own_pool(datastore: PostgresDatastore) -> Iterator[PostgresDatastore]:
    """A small pool of its own for the scratch side: rebuild and verify hold one live
    connection locked while scratch catches up, and the live pool (shared with the
    API, a blocked live writer, other projections) must not starve that catch-up."""
    own = _beside(datastore, pool_size=3)  # the lock's, the replay's, a spare
    try:
        yield own
    finally:
        own.close()


@contextmanager
def scratch(name: str, datastore: PostgresDatastore) -> Iterator[ProjectionHandler[Any]]:
    schema = scratch_schema(name)
    live = build_projection(name, datastore).view
    with _own_pool(datastore) as own, _exclusive(name, own):
        _create_scratch(own, live, schema)
        try:
            yield ProjectionHandler(build_projection(name, own, schema=schema))
        finally:
            _drop_scratch(own, schema)


def replay(
    store: EventStore,
    handler: ProjectionHandler[Any],
    *,
    until: int,
    batch_size: int,
    progress: Progress | None = None,
) -> int:
    """Apply the handler's events after its position up to `until`; return how many."""
    position, applied, started = handler.position(), 0, time.monotonic()
    scanned = position
    while scanned < until:
        batch = store.select(after=scanned, limit=batch_size, topics=handler.topics)
        batch = [(number, event) for number, event in batch if number <= until]
        if not batch:
            break
        handler.handle_batch([e for _, e in batch], Tracking(handler.name, batch[-1][0]))
        scanned, applied = batch[-1][0], applied + len(batch)
        if progress is not None:
            elapsed = time.monotonic() - started
            progress(scanned, until, applied / elapsed if elapsed > 0 else 0.0)
    return applied


# Rebuild -------------------------------------------------------------------------------


def rebuild(
    name: str,
    store: EventStore,
    datastore: PostgresDatastore,
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> RebuildReport:
    """Replay `name` from the first event into scratch, then swap it in."""
    started = time.monotonic()
    with scratch(name, datastore) as handler:
        events = replay(
            store, handler, until=store.head(), batch_size=batch_size, progress=progress
        )
        live = build_projection(name, datastore).view
        with live.transaction() as curs:
            _lock_live(curs, live)
            # The live writer is blocked now: apply what arrived meanwhile, then swap.
            events += replay(store, handler, until=store.head(), batch_size=batch_size)
            position = handler.position()
            _copy_rows(curs, live, scratch_schema(name))
            _set_position(curs, name, position)
    elapsed = time.monotonic() - started
    log.info("rebuilt %s: %d events in %.1fs", name, events, elapsed)
    return RebuildReport(name, events, elapsed, position)


def _lock_live(curs: Cursor[DictRow], live: View) -> int:
    """Hold the live projection still; return its position."""
    # The tracking row first, as every live batch does, so the two cannot deadlock;
    # then EXCLUSIVE on the tables: it blocks writers but not readers (the API).
    row = curs.execute(
        f"SELECT notification_id FROM {TRACKING_TABLE} WHERE application_name = %s FOR UPDATE",  # noqa: S608
        (live.name,),
    ).fetchone()
    tables = SQL(", ").join(Identifier(t) for t in live.tables)
    curs.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(tables))
    return int(row["notification_id"]) if row else 0


def _copy_rows(curs: Cursor[DictRow], live: View, schema: str) -> None:
    for table in live.tables:
        columns = SQL(", ").join(Identifier(c) for c in _stored_columns(curs, table))
        curs.execute(SQL("DELETE FROM {}").format(Identifier(table)))
        curs.execute(
            SQL("INSERT INTO {} ({}) SELECT {} FROM {}.{}").format(
                Identifier(table), columns, columns, Identifier(schema), Identifier(table)
            )
        )


def _stored_columns(curs: Cursor[DictRow], table: str) -> list[str]:
    rows = curs.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [row["column_name"] for row in rows]


def _set_position(curs: Cursor[DictRow], name: str, position: int) -> None:
    curs.execute(
        f"INSERT INTO {TRACKING_TABLE} (application_name, notification_id) VALUES (%s, %s)"  # noqa: S608
        " ON CONFLICT (application_name) DO UPDATE SET notification_id = excluded.notification_id",
        (name, position),
    )


# Verify --------------------------------------------------------------------------------


def verify(
    name: str,
    store: EventStore,
    datastore: PostgresDatastore,
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> list[Difference]:
    """Rebuild `name` into scratch up to the live position and compare the rows.

    The bulk of the replay runs while the live projection keeps going; then the live
    projection is held still (as a rebuild's swap holds it) while scratch catches up
    to its position and the two are compared, so a busy log cannot make it miss."""
    live = build_projection(name, datastore).view
    with scratch(name, datastore) as handler:
        replay(store, handler, until=live.position(), batch_size=batch_size, progress=progress)
        with live.transaction() as curs:
            target = _lock_live(curs, live)
            replay(store, handler, until=target, batch_size=batch_size)
            return [
                d
                for d in (_compare(curs, t, scratch_schema(name)) for t in live.tables)
                if d is not None
            ]


def _compare(curs: Cursor[DictRow], table: str, schema: str) -> Difference | None:
    live = SQL("public.{}").format(Identifier(table))
    rebuilt = SQL("{}.{}").format(Identifier(schema), Identifier(table))
    only_live = _except(curs, live, rebuilt)
    only_rebuilt = _except(curs, rebuilt, live)
    if not only_live and not only_rebuilt:
        return None
    examples = [f"live only: {row}" for row in only_live[:3]]
    examples += [f"rebuilt only: {row}" for row in only_rebuilt[:3]]
    return Difference(table, len(only_live), len(only_rebuilt), examples)


def _except(curs: Cursor[DictRow], left: SQL | Any, right: SQL | Any) -> list[dict[str, Any]]:
    query = SQL("SELECT * FROM {} EXCEPT ALL SELECT * FROM {}").format(left, right)
    return [dict(row) for row in curs.execute(query)]
