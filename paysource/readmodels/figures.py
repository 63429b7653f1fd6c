"""Figures for operators, read at scrape time: objects by status and currency, and how
far a follower of the log trails it.

Counted from the read models rather than kept as counters in the processes that
decide outcomes: the API and any number of workers are separate processes, and a
count from the tables is the same whichever of them is scraped, and survives restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from eventsourcing.postgres import PostgresDatastore

from paysource.application.eventlog import EventStore

# Each read model's table of objects with a status and a currency (trusted names).
OBJECT_TABLES = {"payment": "payments", "refund": "refunds", "settlement": "settlements"}


@dataclass(frozen=True, slots=True)
class StatusCount:
    kind: str  # payment, refund, settlement
    status: str
    currency: str
    count: int


@dataclass(frozen=True, slots=True)
class Lag:
    name: str
    position: int
    events: int
    seconds: float


def status_counts(datastore: PostgresDatastore) -> list[StatusCount]:
    found = []
    with datastore.cursor() as curs:
        for kind, table in OBJECT_TABLES.items():
            rows = curs.execute(
                f"SELECT status, currency, count(*) AS n FROM {table}"  # noqa: S608  # trusted
                " GROUP BY status, currency ORDER BY status, currency"
            ).fetchall()
            found += [StatusCount(kind, r["status"], r["currency"], int(r["n"])) for r in rows]
    return found


def lag(store: EventStore, datastore: PostgresDatastore, name: str, topics: Sequence[str]) -> Lag:
    """Events of `topics` the follower `name` has not applied, and the oldest one's age."""
    position = store.position(name)
    events = count_after(datastore, position, topics)
    seconds = 0.0
    if events:
        oldest = store.select(after=position, limit=1, topics=topics)
        if oldest:
            timestamp: datetime = oldest[0][1].timestamp  # type: ignore[attr-defined]
            seconds = max(0.0, (datetime.now(UTC) - timestamp).total_seconds())
    return Lag(name, position, events, seconds)


def count_after(datastore: PostgresDatastore, position: int, topics: Sequence[str]) -> int:
    with datastore.cursor() as curs:
        row = curs.execute(
            "SELECT count(*) AS n FROM paysource_events"
            " WHERE notification_id > %s AND topic = ANY(%s)",
            (position, list(topics)),
        ).fetchone()
    return int(row["n"]) if row else 0
