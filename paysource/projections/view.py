"""The base of every read model: batched writes with their tracking position."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.rows import DictRow

from paysource.application.follower import Event
from paysource.application.store import ConcurrencyConflict

TRACKING_TABLE = "projection_tracking"


class View(PostgresTrackingRecorder):
    """A Postgres read model. Writes happen inside `batch()`, which commits the rows
    and the batch's tracking position together, or neither."""

    tables: ClassVar[tuple[str, ...]] = ()

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, tracking_table_name=TRACKING_TABLE)
        self._cursor: Cursor[DictRow] | None = None

    @contextmanager
    def batch(self, tracking: Tracking) -> Iterator[None]:
        with self.datastore.transaction(commit=True) as curs:
            self._cursor = curs
            try:
                yield
                self._advance(curs, tracking)
            finally:
                self._cursor = None

    @property
    def cursor(self) -> Cursor[DictRow]:
        assert self._cursor is not None, "view writes happen inside batch()"
        return self._cursor

    def execute(self, query: Any, params: Sequence[Any] | dict[str, Any]) -> None:
        self.cursor.execute(query, params, prepare=True)

    @staticmethod
    def _advance(curs: Cursor[DictRow], tracking: Tracking) -> None:
        row = curs.execute(
            f"INSERT INTO {TRACKING_TABLE} (application_name, notification_id) "  # noqa: S608
            "VALUES (%s, %s) ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = excluded.notification_id "
            f"WHERE {TRACKING_TABLE}.notification_id < excluded.notification_id "
            "RETURNING notification_id",
            (tracking.application_name, tracking.notification_id),
        ).fetchone()
        if row is None:
            # Another runner of this projection applied these events first.
            raise ConcurrencyConflict


V = TypeVar("V", bound=View)


class ProjectionHandler(Generic[V]):
    """Runs a projection under a `Follower`: one transaction per batch of events."""

    def __init__(self, projection: Projection[V]) -> None:
        self.projection = projection
        self.name = projection.name
        self.topics = projection.topics

    def position(self) -> int:
        return self.projection.view.max_tracking_id(self.name) or 0

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        with self.projection.view.batch(tracking):
            for event in events:
                self.projection.process_event(event, tracking)
