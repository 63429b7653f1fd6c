"""Reading stored events faster than eventsourcing's generic recorder does.

- `stored_events`: the events of many aggregates at once (a batch of a process
  manager). eventsourcing's repository reads one aggregate per query; a batch of a
  hundred payments would pay a hundred round trips. This reads all of them in one, on
  the recorder's own connection pool, in each aggregate's version order.
- `log_rows`: a stretch of the log, as rebuilds and each worker's log tail read it.
  eventsourcing's `select_notifications` reads rows as text into dicts and builds a
  frozen dataclass per row: 7.5 µs a row (bench/README.md); in binary into a named
  tuple, which the mapper decodes as it does a notification, 1.7 µs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import InterfaceError, OperationalError, Recorder, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier


def stored_events(recorder: Recorder, aggregate_ids: Sequence[UUID]) -> list[StoredEvent] | None:
    """Every stored event of `aggregate_ids`, by aggregate then version; None when the
    recorder is not Postgres's (the in-memory one of unit tests)."""
    if not isinstance(recorder, PostgresAggregateRecorder):
        return None
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (list(aggregate_ids),), prepare=True)
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in curs.fetchall()
        ]


class LogRow(NamedTuple):
    """A stored event and its place in the log: the fields of eventsourcing's
    `Notification`, which is all `Mapper.to_domain_event` reads."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def _log_row(_cursor: Cursor[Any]) -> Any:
    return LogRow._make


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as eventsourcing's
def log_rows(
    recorder: PostgresAggregateRecorder,
    *,
    after: int,
    limit: int,
    topics: Sequence[str] = (),
) -> list[LogRow]:
    """Up to `limit` events after position `after`, of `topics` if any are given, in log
    order. No upper bound in SQL: with one, the planner can scan the whole range and
    sort it rather than walk the index up to `limit` rows (bench/README.md)."""
    values: list[Any] = [after, list(topics)] if topics else [after]
    statement = _log_query(recorder.datastore.schema, recorder.events_table_name, bool(topics))
    with (
        recorder.datastore.get_connection() as conn,
        conn.cursor(binary=True, row_factory=_log_row) as curs,
    ):
        curs.execute(statement, [*values, limit], prepare=True)
        rows: list[LogRow] = curs.fetchall()
    return rows


@functools.cache  # composed once: each worker's tail reads the log many times a second
def _log_query(schema: str, table: str, by_topic: bool) -> Composed:
    return SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{}"
        " WHERE notification_id > %s{} ORDER BY notification_id LIMIT %s"
    ).format(
        Identifier(schema),
        Identifier(table),
        SQL(" AND topic = ANY(%s)") if by_topic else SQL(""),
    )


def fold(events: Iterable[DomainEventProtocol[UUID]]) -> dict[UUID, object]:
    """Each aggregate's state from its events (given in version order per aggregate)."""
    histories: dict[UUID, list[DomainEventProtocol[UUID]]] = {}
    for event in events:
        histories.setdefault(event.originator_id, []).append(event)
    return {i: _project(history) for i, history in histories.items()}


def _project(history: list[DomainEventProtocol[UUID]]) -> object:
    # eventsourcing's project_aggregate asserts each event against a runtime-checkable
    # Protocol: an isinstance that walks the protocol's members, 5% of a worker's CPU.
    aggregate: Any = None
    for event in history:
        aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate
