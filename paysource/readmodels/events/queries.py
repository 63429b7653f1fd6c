"""The reads of the `events` read model: the event feed, oldest first by log position.

The feed pages forward by position (`after`), not by time: positions are unique and
only grow, so a page boundary can neither skip nor repeat an event, even when many
events share a timestamp. A merchant never sees a position (it would count other
merchants' events): it names the event it paged to by id, and `event_position` turns
that id into the position, among that merchant's events only.
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


def event_position(event_id: UUID, merchant_id: UUID | None) -> Statement:
    """The position of an event, if it is the merchant's (None: anyone's, for staff)."""
    clauses = Where().add("x.event_id = %s", event_id).equal("x.merchant_id", merchant_id)
    return Statement(
        f"SELECT x.position FROM {EVENT_INDEX.name} x WHERE {clauses.text}",  # noqa: S608
        tuple(clauses.params),
    )


class EventsQueries:
    """The statements above, run on a cell's synchronous pool."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def page(self, where: FeedFilter, *, limit: int) -> Page:
        return Page.of(sql.run(self.datastore, feed_page(where, limit=limit)), limit)

    def position_of(self, event_id: UUID, merchant_id: UUID | None) -> int | None:
        rows = sql.run(self.datastore, event_position(event_id, merchant_id))
        return int(rows[0]["position"]) if rows else None


# Events a merchant's move copied into this cell: the source cell's relay published
# them (the move waits for it), so the relay leaves them out here (docs/operations.md).
NOT_COPIED = (
    "NOT EXISTS (SELECT 1 FROM moved_in_events m"
    " WHERE x.position BETWEEN m.first_position AND m.last_position)"
)
# The relay reads only what the events projection has committed (its tracking row), so
# it sees a gap-free prefix of the log: rows commit in position order, batch by batch.
_INDEXED_TO = (
    "SELECT coalesce((SELECT notification_id FROM projection_tracking"
    " WHERE application_name = 'events'), 0)"
)
_RELAY_PAGE = (
    f"SELECT {EVENT_INDEX.select('x')} FROM {EVENT_INDEX.name} x"  # noqa: S608  # fixed names
    f" WHERE x.position > %s AND x.position <= ({_INDEXED_TO}) AND {NOT_COPIED}"
    " ORDER BY x.position LIMIT %s"
)
_RELAY_PAGE_UPTO = (
    f"SELECT {EVENT_INDEX.select('x')} FROM {EVENT_INDEX.name} x"  # noqa: S608  # fixed names
    f" WHERE x.position > %s AND x.position <= %s AND {NOT_COPIED}"
    " ORDER BY x.position LIMIT %s"
)
_TRACK = (
    "INSERT INTO projection_tracking (application_name, notification_id) VALUES (%s, %s)"
    " ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id"
)


class RelayQueries:
    """What the event relay reads (indexed events, in log order) and where it notes
    how far it got (for `paysource jobs`; the stream itself is the truth)."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def after(self, position: int, *, limit: int, upto: int | None = None) -> list[sql.Row]:
        """Indexed events after `position`, up to `upto` (None: all the index holds)."""
        if upto is None:
            return sql.run(self.datastore, Statement(_RELAY_PAGE, (position, limit)))
        return sql.run(self.datastore, Statement(_RELAY_PAGE_UPTO, (position, upto, limit)))

    def indexed_to(self) -> int:
        """How far the events projection has indexed the log."""
        rows = sql.run(self.datastore, Statement(_INDEXED_TO + " AS upto", ()))
        return int(rows[0]["upto"])

    def note_position(self, name: str, position: int) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(_TRACK, (name, position))

    def position(self, name: str) -> int:
        rows = sql.run(
            self.datastore,
            Statement(
                "SELECT notification_id FROM projection_tracking WHERE application_name = %s",
                (name,),
            ),
        )
        return int(rows[0]["notification_id"]) if rows else 0
