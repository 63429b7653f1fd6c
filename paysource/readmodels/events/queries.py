"""The reads of the `events` read model: the event feed, oldest first by log position.

The feed pages forward by position (`after`), not by time: positions are unique and
only grow, so a page boundary can neither skip nor repeat an event, even when many
events share a timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.readmodels import sql
from paysource.readmodels.events.schema import EVENT_INDEX
from paysource.readmodels.sql import Page, Statement, Where


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which events: a merchant's (None: every merchant's, for staff), after a
    position, and optionally of one type, one object, within [since, until]."""

    merchant_id: UUID | None = None
    after: int = 0
    types: tuple[str, ...] = ()
    object_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


def feed_page(where: FeedFilter, *, limit: int) -> Statement:
    """Up to limit + 1 events after `where.after` (the extra one says there are more)."""
    clauses = Where().add("x.position > %s", where.after)
    clauses.equal("x.merchant_id", where.merchant_id).equal("x.object_id", where.object_id)
    if where.types:
        clauses.add("x.type = ANY(%s)", list(where.types))
    if where.since is not None:
        clauses.add("x.occurred_at >= %s", where.since)
    if where.until is not None:
        clauses.add("x.occurred_at <= %s", where.until)
    return Statement(
        f"SELECT {EVENT_INDEX.select('x')} FROM {EVENT_INDEX.name} x"  # noqa: S608
        f" WHERE {clauses.text} ORDER BY x.position LIMIT %s",
        (*clauses.params, limit + 1),
    )


class EventsQueries:
    """The statement above, run on a cell's synchronous pool."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def page(self, where: FeedFilter, *, limit: int) -> Page:
        return Page.of(sql.run(self.datastore, feed_page(where, limit=limit)), limit)
