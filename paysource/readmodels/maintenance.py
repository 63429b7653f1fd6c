"""Operating the read side: status, rebuild and verify of one read model.

Rebuild and verify replay the log into a scratch schema (`scratch_<name>`), in large
batches, while the live read model keeps serving. Rebuild (`rebuilding`: any number of
read models in one read of the log) then swaps the tables in by renaming them;
verify compares scratch and live at the same log position and reports every
difference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
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
from paysource.readmodels import moved_out
from paysource.readmodels.catalog import PROJECTIONS, build_projection
from paysource.readmodels.figures import count_after
from paysource.readmodels.rebuilding import Progress, RebuildReport, rebuild_all
from paysource.readmodels.scratchpool import MaintenanceBusy, exclusive, own_pool

__all__ = ["MaintenanceBusy", "RebuildReport", "rebuild", "status", "verify"]
from paysource.readmodels.view import LIVE_SCHEMA, TRACKING_TABLE, ProjectionHandler, View

log = logging.getLogger(__name__)


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


@contextmanager
def scratch(name: str, datastore: PostgresDatastore) -> Iterator[ProjectionHandler[Any]]:
    schema = scratch_schema(name)
    live = build_projection(name, datastore).view
    with own_pool(datastore) as own, exclusive([name], own):
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
    """Replay `name` from the first event into fresh tables, then swap them in."""
    (report,) = rebuild_all([name], store, datastore, batch_size=batch_size, progress=progress)
    return report


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
            # As rebuild does: the merchants moved to another cell are not this one's.
            moved_out.forget_moved_out(curs, tables=live.tables, schema=scratch_schema(name))
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
