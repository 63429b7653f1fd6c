"""Moving a merchant's data between cells, in SQL (`paysource cells move` drives it).

The copy is one transaction on the target cell: the merchant's events (with their ids
and versions, in log order, taking new log positions), its customers' data keys, its
webhook queue (endpoints, events, deliveries, attempts, with the same ids), and the
range of positions the events took (`moved_in_events`), which the side-effect
followers skip. The source keeps the events as history; `forget_merchant` deletes the
merchant's read-model and webhook rows there, so nothing of the source acts on, or
lists, the merchant again, and destroys the source's copies of its customers' data keys
(erasure then needs the target's keys only).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from enum import Enum
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql

from paysource.readmodels import moved_out
from paysource.readmodels.events.queries import NOT_COPIED

# Parents first (foreign keys); identity columns are made anew in the target.
_WEBHOOK_TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("webhook_endpoints", "merchant_id = %(m)s", ()),
    ("webhook_events", "merchant_id = %(m)s", ()),
    ("webhook_deliveries", "merchant_id = %(m)s", ("seq",)),
    (
        "webhook_attempts",
        "delivery_id IN (SELECT id FROM webhook_deliveries WHERE merchant_id = %(m)s)",
        ("id",),
    ),
)
MOVING = "cells-move"  # the lease holder of the merchant's deliveries during a move
# Aggregates that stay in the directory cell whichever cell holds the merchant.
_DIRECTORY_TOPICS = (":ApiKey.", ":Merchant.")

Decode = Callable[[StoredEvent], object]


class MoveRefused(Exception):
    """The move cannot be made (the reason is for the operator)."""


class PostgresCopiedRanges:
    """`CopiedRanges` (application.eventlog) of one cell."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def between(self, after: int, upto: int) -> list[tuple[int, int]]:
        with self.datastore.cursor() as curs:
            rows = curs.execute(
                "SELECT first_position, last_position FROM moved_in_events"
                " WHERE last_position > %s AND first_position <= %s",
                (after, upto),
            ).fetchall()
        return [(int(row["first_position"]), int(row["last_position"])) for row in rows]


def merchant_aggregates(
    url: str, decode: Decode, merchant_id: UUID, found: set[UUID], *, after: int = 0
) -> int:
    """Add to `found` the merchant's aggregates first written after position `after`;
    return the position read to. An aggregate is the merchant's when its first event
    names it, or (settlement item claims) names one of its settlements."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, topic, state, notification_id"
            " FROM paysource_events WHERE originator_version = 1 AND notification_id > %s"
            " ORDER BY notification_id",
            (after,),
        ).fetchall()
    for originator_id, _, topic, state, _ in rows:
        if _theirs(decode, merchant_id, found, (originator_id, topic, state)):
            found.add(originator_id)
    return int(rows[-1][4]) if rows else after


def last_positions(url: str, aggregate_ids: Iterable[UUID]) -> list[tuple[int, str]]:
    """(position, topic) of every event of these aggregates, in log order."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT notification_id, topic FROM paysource_events"
            " WHERE originator_id = ANY(%s) ORDER BY notification_id",
            (list(aggregate_ids),),
        ).fetchall()
    return [(int(n), str(t)) for n, t in rows]


_RELAY_LAG = (
    "SELECT (SELECT notification_id FROM projection_tracking WHERE application_name = %s),"  # noqa: S608  # fixed names
    " (SELECT max(x.position) FROM event_index x"
    f" WHERE x.merchant_id = %s AND {NOT_COPIED})"
)


def relay_behind(url: str, merchant_id: UUID, relay: str, *, configured: bool) -> bool:
    """Whether the cell's event relay (tracking name `relay`) has yet to publish an
    indexed event of the merchant. Asked once the events projection is past its events,
    since `forget_merchant` then deletes their index rows, which the relay reads. A cell
    whose relay never ran and is not `configured` here has none to wait for."""
    with psycopg.connect(url) as conn:
        row = conn.execute(_RELAY_LAG, (relay, merchant_id)).fetchone()
    assert row is not None
    relayed, last = row
    if relayed is None and not configured:
        return False
    return int(relayed or 0) < int(last or 0)


def tracking_positions(url: str) -> dict[str, int]:
    """Every follower's committed position (process and projection tracking)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT application_name, notification_id FROM paysource_tracking"
            " UNION ALL SELECT application_name, notification_id FROM projection_tracking"
        ).fetchall()
    found: dict[str, int] = {}
    for name, position in rows:
        found[str(name)] = max(found.get(str(name), 0), int(position or 0))
    return found


@contextmanager
def move_lock(directory_url: str, merchant_id: UUID) -> Iterator[None]:
    """Held by a move for its whole run, on a session of the directory: a recovery
    (`cells move --recover`) refuses while a move is alive, and the lock goes with the
    session of a move that was killed."""
    with psycopg.connect(directory_url, autocommit=True) as conn:
        if not _try_lock(conn, merchant_id):
            raise MoveRefused("another `cells move` of this merchant is running")
        yield


def move_alive(directory_url: str, merchant_id: UUID) -> bool:
    """Whether a move of the merchant holds its lock (is running somewhere)."""
    with psycopg.connect(directory_url, autocommit=True) as conn:
        if not _try_lock(conn, merchant_id):
            return True
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"move:{merchant_id}",))
        return False


def _try_lock(conn: psycopg.Connection[Any], merchant_id: UUID) -> bool:
    row = conn.execute(
        "SELECT pg_try_advisory_lock(hashtext(%s))", (f"move:{merchant_id}",)
    ).fetchone()
    return bool(row and row[0])


def copied_into(url: str, merchant_id: UUID) -> bool:
    """Whether the merchant's copy committed in this (target) cell."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM moved_in_events WHERE merchant_id = %s)",
            (merchant_id,),
        ).fetchone()
    return bool(row and row[0])


def refuse_return(url: str, cell: str, merchant_id: UUID) -> None:
    """MoveRefused if the merchant moved out of this (target) cell before: the cell
    keeps its events as history, its read-model rows and data keys are gone, so it
    cannot take the merchant back. Asked before a move marks anything."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT target_cell, moved_at FROM moved_out_merchants"
            " WHERE merchant_id = %s AND state = 'moved'",
            (merchant_id,),
        ).fetchone()
    if row is not None:
        raise MoveRefused(
            f"the merchant left {cell} (for {row[0]}, {row[1]:%Y-%m-%d}), which keeps its"
            " events as history: a cell cannot take back a merchant that left it; move it"
            " to a cell it has not been in (`paysource cells add` prepares a new one)"
        )


def fence(url: str, merchant_id: UUID, target_cell: str) -> None:
    """From now on the source's sweeps (settlement schedule, hold and dispute expiry)
    leave the merchant alone: nothing of it is decided here once it is copied."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO moved_out_merchants (merchant_id, target_cell, state)"
            " VALUES (%s, %s, 'moving')",
            (merchant_id, target_cell),
        )


class Sealing(Enum):
    """What a `seal` came to."""

    SEALED = "sealed"
    WROTE = "wrote"  # the merchant wrote since it was found at rest: look again
    BUSY = "busy"  # the events table's lock was not had within the timeout: try again


# Below the writers' own lock_timeout (5 s, datastore.py): a seal queued for the lock
# delays the cell's other writers by at most this, never into their timeout.
SEAL_LOCK_TIMEOUT_S = 2.0


def refuse_writes(url: str, merchant_id: UUID, ids: Collection[UUID]) -> None:
    """From its commit, the source refuses every write of the merchant and of these
    aggregates (migration 027, adapters.postgres.recorder). Before the seal's lock and
    in a transaction of its own, since it grows with the merchant (one row per
    aggregate) and blocks no writer: the merchant's writes get 503 from routing
    already, and an aborted move deletes the rows (`unseal`)."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("CREATE TEMPORARY TABLE sealing (id uuid NOT NULL) ON COMMIT DROP")
        with conn.cursor().copy("COPY sealing (id) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid"])
            copy.write_row((merchant_id,))
            for aggregate_id in ids:
                copy.write_row((aggregate_id,))
        conn.execute(
            "INSERT INTO moved_out_ids (id, merchant_id) SELECT id, %s FROM sealing"
            " ON CONFLICT (id) DO NOTHING",
            (merchant_id,),
        )


def seal(
    url: str,
    decode: Decode,
    merchant_id: UUID,
    found: set[UUID],
    *,
    scanned: int,
    last: int,
    lock_timeout_s: float = SEAL_LOCK_TIMEOUT_S,
) -> Sealing:
    """Seal the merchant in the source, its writes being refused already
    (`refuse_writes`), if it wrote nothing since it was found at rest: no event of its
    aggregates `found` after `last`, no new aggregate after `scanned`. Under the events
    table's lock, which every write of events takes and holds to its commit: once it is
    had, no write that missed the refusal is half-way, and what they wrote is seen.
    Only what was written since the look is read then (an unlocked pass reads most of
    it first), so the lock is held for a few rows whatever the merchant's size."""
    with psycopg.connect(url, autocommit=True) as conn:
        scanned, wrote = _written_since(conn, decode, merchant_id, found, after=scanned, last=last)
        if wrote:
            return Sealing.WROTE
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{int(lock_timeout_s * 1000)}ms")
                    )
                )
                conn.execute("LOCK TABLE paysource_events IN EXCLUSIVE MODE")
                _, wrote = _written_since(
                    conn, decode, merchant_id, found, after=scanned, last=last
                )
        except psycopg.errors.LockNotAvailable:
            return Sealing.BUSY
    return Sealing.WROTE if wrote else Sealing.SEALED


def _written_since(
    conn: psycopg.Connection[Any],
    decode: Decode,
    merchant_id: UUID,
    found: set[UUID],
    *,
    after: int,
    last: int,
) -> tuple[int, bool]:
    """The position read to, and whether the merchant wrote after its look: an event
    of an aggregate `found` after `last`, or a first event of a new one of its after
    `after` (by the log's index, so the rows written since, not the merchant's)."""
    rows = conn.execute(
        "SELECT originator_id, originator_version, topic,"
        " CASE WHEN originator_version = 1 THEN state END, notification_id"
        " FROM paysource_events WHERE notification_id > %s ORDER BY notification_id",
        (after,),
    ).fetchall()
    for originator_id, version, topic, state, position in rows:
        if originator_id in found:
            if position > last:
                return position, True
        elif version == 1 and _theirs(decode, merchant_id, found, (originator_id, topic, state)):
            return position, True
    return (int(rows[-1][4]) if rows else after), False


def _theirs(
    decode: Decode, merchant_id: UUID, found: set[UUID], first: tuple[UUID, str, Any]
) -> bool:
    """Whether an aggregate's first event makes it the merchant's: it names the
    merchant, or one of its settlements (a settlement item claim)."""
    originator_id, topic, state = first
    if any(part in topic for part in _DIRECTORY_TOPICS):
        return False
    event = decode(StoredEvent(originator_id, 1, topic, bytes(state)))
    owner = getattr(event, "merchant_id", None)
    return owner == merchant_id or getattr(event, "settlement_id", None) in found


def unseal(url: str, merchant_id: UUID) -> None:
    """An aborted move: the source takes the merchant's writes again."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM moved_out_ids WHERE merchant_id = %s", (merchant_id,))


def unfence(url: str, merchant_id: UUID) -> None:
    """An aborted move: the source's sweeps take the merchant again."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM moved_out_merchants WHERE merchant_id = %s AND state = 'moving'",
            (merchant_id,),
        )


def hold_deliveries(url: str, merchant_id: UUID) -> int:
    """Lease the merchant's deliveries to the move, so the source's lanes leave them;
    return how many are still leased by a lane (in flight: wait, then call again)."""
    with psycopg.connect(url, autocommit=True) as conn:
        # A day, not 'infinity' (which no Python datetime holds): a move killed mid-way
        # gives them back to the lanes by then.
        conn.execute(
            "UPDATE webhook_deliveries SET locked_until = now() + interval '1 day',"
            " locked_by = %s"
            " WHERE merchant_id = %s AND (locked_until IS NULL OR locked_until <= now())"
            " AND (status = 'pending' OR resend_at IS NOT NULL)",
            (MOVING, merchant_id),
        )
        row = conn.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE merchant_id = %s"
            " AND locked_until > now() AND locked_by IS DISTINCT FROM %s",
            (merchant_id, MOVING),
        ).fetchone()
    return int(row[0]) if row else 0


def release_deliveries(url: str, merchant_id: UUID) -> None:
    """An aborted move gives the merchant's deliveries back to the source's lanes."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET locked_until = NULL, locked_by = NULL"
            " WHERE merchant_id = %s AND locked_by = %s",
            (merchant_id, MOVING),
        )


def copy_merchant(
    source_url: str,
    target_url: str,
    *,
    merchant_id: UUID,
    aggregate_ids: Sequence[UUID],
    source_cell: str,
) -> tuple[int, int]:
    """Copy the merchant into the target in one transaction; return the positions its
    events took there. MoveRefused if the target already holds any of its aggregates."""
    ids = list(aggregate_ids)
    with psycopg.connect(source_url) as source:
        events = source.execute(
            "SELECT originator_id, originator_version, topic, state FROM paysource_events"
            " WHERE originator_id = ANY(%s) ORDER BY notification_id",
            (ids,),
        ).fetchall()
        keys = _rows(source, "customer_keys", "subject_id = ANY(%(ids)s)", {"ids": ids})
        hooks = [
            (table, _rows(source, table, where, {"m": merchant_id}, skip))
            for table, where, skip in _WEBHOOK_TABLES
        ]
    with psycopg.connect(target_url) as target:
        # As eventsourcing does: commits in position order, which followers rely on.
        target.execute("LOCK TABLE paysource_events IN EXCLUSIVE MODE")
        _refuse_if_present(target, ids)
        span = _insert_events(target, events, ids)
        _insert(target, "customer_keys", keys)
        for table, rows in hooks:
            _insert(target, table, rows, held=table == "webhook_deliveries")
        if span is not None:  # a merchant that did nothing yet has nothing to skip
            target.execute(
                "INSERT INTO moved_in_events (first_position, last_position, merchant_id,"
                " source_cell) VALUES (%s, %s, %s, %s)",
                (*span, merchant_id, source_cell),
            )
        _commit(target, target_url)
    return span or (0, 0)


class CommitUnknown(Exception):
    """The copy's COMMIT was sent, and its answer lost (a dropped connection, Ctrl-C):
    it may have committed. Raised once the target's session is gone, if it could be
    reached, so that `copied_into` then tells."""


def _commit(conn: psycopg.Connection[Any], url: str) -> None:
    pid = conn.info.backend_pid
    try:
        conn.commit()
    except BaseException as error:
        # A session still at its COMMIT (a slow disk, a synchronous standby) may make
        # it visible after a look: end it first, so the look sees how it ended.
        with suppress(psycopg.Error):
            _end_session(url, pid)
        raise CommitUnknown(f"the target's answer to the copy's commit was lost: {error!r}") from (
            error
        )


def _end_session(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))


def _insert_events(
    conn: psycopg.Connection[Any], events: list[tuple[Any, ...]], ids: list[UUID]
) -> tuple[int, int] | None:
    """Append the events (in their source order); the positions they took, if any."""
    if not events:
        return None
    with conn.cursor() as curs:
        curs.executemany(
            "INSERT INTO paysource_events"
            " (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)",
            events,
        )
    span = conn.execute(
        "SELECT min(notification_id), max(notification_id) FROM paysource_events"
        " WHERE originator_id = ANY(%s)",
        (ids,),
    ).fetchone()
    assert span is not None
    return int(span[0]), int(span[1])


def _refuse_if_present(conn: psycopg.Connection[Any], ids: list[UUID]) -> None:
    row = conn.execute(
        "SELECT count(*) FROM paysource_events WHERE originator_id = ANY(%s)", (ids,)
    ).fetchone()
    if row and row[0]:
        raise MoveRefused(
            "the target cell already holds events of this merchant (it was there before);"
            " moving a merchant back to a cell it left is not supported"
        )


def _rows(
    conn: psycopg.Connection[Any],
    table: str,
    where: str,
    params: dict[str, Any],
    skip: tuple[str, ...] = (),
) -> tuple[list[str], list[tuple[Any, ...]]]:
    query = sql.SQL("SELECT * FROM {} WHERE ").format(sql.Identifier(table)) + sql.SQL(where)
    with conn.cursor() as curs:
        curs.execute(query, params)
        names = [column.name for column in curs.description or ()]
        keep = [i for i, name in enumerate(names) if name not in skip]
        rows = [tuple(row[i] for i in keep) for row in curs.fetchall()]
    return [names[i] for i in keep], rows


def _insert(
    conn: psycopg.Connection[Any],
    table: str,
    found: tuple[list[str], list[tuple[Any, ...]]],
    *,
    held: bool = False,
) -> None:
    names, rows = found
    if not rows:
        return
    if held:  # the source's lease (the move's) is not the target's: free to claim
        at = names.index("locked_until"), names.index("locked_by")
        rows = [tuple(None if i in at else v for i, v in enumerate(row)) for row in rows]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
    )
    with conn.cursor() as curs:
        curs.executemany(query, rows)


def forget_merchant(
    url: str,
    merchant_id: UUID,
    *,
    aggregate_ids: Iterable[UUID],
    target_cell: str,
    last_position: int,
) -> None:
    """After the switch: the source cell lists and acts on nothing of the merchant.
    Its events stay (the log is append-only history); its read-model rows go, and its
    copies of the customers' data keys are destroyed (tombstoned, as an erasure does):
    the target's keys are then the only ones, so erasing there erases everywhere, and
    the source (and its backups from now on) cannot read the customers' personal data."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(
            "UPDATE customer_keys SET wrapped_key = NULL, erased_at = coalesce(erased_at, now())"
            " WHERE subject_id = ANY(%s)",
            (list(aggregate_ids),),
        )
        with conn.cursor() as curs:
            moved_out.forget(curs, [merchant_id])
        for table, where, _ in reversed(_WEBHOOK_TABLES):
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE ").format(sql.Identifier(table)) + sql.SQL(where),
                {"m": merchant_id},
            )
        conn.execute(
            "INSERT INTO moved_out_merchants (merchant_id, target_cell, state, last_position)"
            " VALUES (%s, %s, 'moved', %s) ON CONFLICT (merchant_id) DO UPDATE"
            " SET target_cell = excluded.target_cell, state = 'moved',"
            " last_position = excluded.last_position, moved_at = now()",
            (merchant_id, target_cell, last_position),
        )
