"""The base of every read model: batched writes committed with their tracking position.

A view lives in one Postgres schema: `public` for the live read model, another for a
scratch copy being rebuilt or verified (see `maintenance`). Its SQL names tables
without a schema and runs with `search_path` set to the view's schema.

Tracking is compare-and-set: a batch commits only if the position it started from is
still the recorded one, so a batch from a stale runner (another process, or one that
raced a rebuild's swap) is rolled back instead of applied twice.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from paysource.application.eventlog import ConcurrencyConflict, Event

TRACKING_TABLE = "projection_tracking"
LIVE_SCHEMA = "public"


def changed_ids(events: Sequence[Event], kind: type[Any], created: type[Any]) -> list[UUID]:
    """Ids of the aggregates whose existing rows a batch changes (to prefetch them):
    events of `kind`, except the `created` events that make new rows."""
    return [e.originator_id for e in events if isinstance(e, kind) and not isinstance(e, created)]


class View(PostgresTrackingRecorder):
    """A Postgres read model. Writes happen inside `batch()`."""

    name: ClassVar[str] = ""
    tables: ClassVar[tuple[str, ...]] = ()

    def __init__(self, datastore: PostgresDatastore, *, schema: str = LIVE_SCHEMA) -> None:
        super().__init__(datastore, tracking_table_name=TRACKING_TABLE)
        self.schema = schema
        self._cursor: Cursor[DictRow] | None = None

    # Transactions ---------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Cursor[DictRow]]:
        """A transaction whose unqualified table names resolve in this view's schema."""
        with self.datastore.transaction(commit=True) as curs:
            if self.schema != LIVE_SCHEMA:
                curs.execute(
                    SQL("SET LOCAL search_path TO {}, public").format(Identifier(self.schema))
                )
            yield curs

    @contextmanager
    def batch(self, tracking: Tracking, *, expected: int) -> Iterator[None]:
        """Apply a batch: rows written by the block, then `flush()`, then the position
        moves from `expected` to `tracking` — all in one transaction, or nothing."""
        with self.transaction() as curs:
            self._claim(curs, expected)
            self._cursor = curs
            try:
                self.begin_batch()
                yield
                self.flush()
                self.advance(curs, expected=expected, to=tracking.notification_id)
            finally:
                self._cursor = None

    @property
    def cursor(self) -> Cursor[DictRow]:
        assert self._cursor is not None, "view writes happen inside batch()"
        return self._cursor

    def execute(self, query: Any, params: Sequence[Any] | dict[str, Any] = ()) -> None:
        self.cursor.execute(query, params, prepare=True)

    # Hooks for subclasses -------------------------------------------------------------

    def begin_batch(self) -> None:
        """Reset per-batch state (buffers, caches)."""

    def prefetch(self, events: Sequence[Event]) -> None:
        """Load in one query what the batch's events will read or change."""

    def flush(self) -> None:
        """Write what the batch buffered."""

    def shadow_ddl(self) -> list[str]:
        """Statements (beyond copying the tables) a scratch copy needs, e.g. triggers.
        Run with search_path set to the scratch schema."""
        return []

    # Tracking -------------------------------------------------------------------------

    def position(self) -> int:
        with self.transaction() as curs:
            row = curs.execute(
                f"SELECT notification_id FROM {TRACKING_TABLE} WHERE application_name = %s",  # noqa: S608
                (self.name,),
            ).fetchone()
        return int(row["notification_id"]) if row else 0

    def _claim(self, curs: Cursor[DictRow], expected: int) -> None:
        """Lock this view's tracking row for the batch, and check it is where the batch
        starts. A stale batch stops here, before writing anything; and runners (or a
        rebuild's swap, which takes this lock first too) take turns. A view that never
        ran has no row to lock: it is made at 0 first, so that a second runner waits for
        the first one's commit here and then sees it moved on, rather than writing the
        same rows and failing on their keys. (Only then: every batch of every view
        comes through here.)"""
        row = self._lock_tracking(curs)
        if row is None:
            curs.execute(
                f"INSERT INTO {TRACKING_TABLE} (application_name, notification_id)"  # noqa: S608
                " VALUES (%s, 0) ON CONFLICT (application_name) DO NOTHING",
                (self.name,),
            )
            row = self._lock_tracking(curs)
        if (int(row["notification_id"]) if row else 0) != expected:
            raise ConcurrencyConflict

    def _lock_tracking(self, curs: Cursor[DictRow]) -> DictRow | None:
        return curs.execute(
            f"SELECT notification_id FROM {TRACKING_TABLE}"  # noqa: S608
            " WHERE application_name = %s FOR UPDATE",
            (self.name,),
        ).fetchone()

    def advance(self, curs: Cursor[DictRow], *, expected: int, to: int) -> None:
        if expected == 0:
            # The row may already be there at 0 (a batch that moved nothing, as the audit
            # log's first signing pass): moving it on from 0 is still this batch's right.
            row = curs.execute(
                f"INSERT INTO {TRACKING_TABLE} AS t (application_name, notification_id)"  # noqa: S608
                " VALUES (%s, %s) ON CONFLICT (application_name) DO UPDATE"
                " SET notification_id = EXCLUDED.notification_id"
                " WHERE t.notification_id = 0 RETURNING 1",
                (self.name, to),
            ).fetchone()
        else:
            row = curs.execute(
                f"UPDATE {TRACKING_TABLE} SET notification_id = %s"  # noqa: S608
                " WHERE application_name = %s AND notification_id = %s RETURNING 1",
                (to, self.name, expected),
            ).fetchone()
        if row is None:
            # Another runner (or a rebuild) moved this view on since the batch began.
            raise ConcurrencyConflict


V = TypeVar("V", bound=View)


class ProjectionHandler(Generic[V]):
    """Runs a projection under a `Follower`: one transaction per batch of events."""

    def __init__(self, projection: Projection[V]) -> None:
        self.projection = projection
        self.name = projection.name
        self.topics = projection.topics
        self._committed: int | None = None
        self._process = _dispatcher(projection)

    @property
    def view(self) -> V:
        return self.projection.view

    def position(self) -> int:
        self._committed = self.view.position()
        return self._committed

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        expected = self.position() if self._committed is None else self._committed
        with self.view.batch(tracking, expected=expected):
            self.view.prefetch(events)
            process = self._process
            for event in events:
                process(event, tracking)
        self._committed = tracking.notification_id


Process = Callable[[Event, Tracking], None]


def _dispatcher(projection: Projection[Any]) -> Process:
    """`projection.process_event`, its handler looked up once per event class.

    Python 3.11's `functools.singledispatchmethod` makes a closure and copies the
    function's metadata onto it at every attribute access, that is for every event and
    read model (with `Entry`'s one-pass check, 8% of a rebuild's Python CPU went;
    bench/README.md). The registry and its dispatch are the same; only the wrapper is
    not rebuilt each time."""
    method = inspect.getattr_static(type(projection), "process_event", None)
    if not isinstance(method, functools.singledispatchmethod):
        return projection.process_event
    # eventsourcing registers handlers that name later classes on the first access.
    _ = projection.process_event
    dispatch = method.dispatcher.dispatch
    bound: dict[type, Process] = {}

    def process(event: Event, tracking: Tracking) -> None:
        handler = bound.get(type(event))
        if handler is None:
            handler = bound[type(event)] = dispatch(type(event)).__get__(projection)
        handler(event, tracking)

    return process
