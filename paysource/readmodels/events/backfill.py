"""Event ids for the feed's rows indexed before migration 026 (run by `migrate`;
migration 028 indexes them).

Their id is a uuid5 of object id and version (the id their webhook carries), which
Postgres cannot compute without an extension; so Python fills them in batches, each its
own short transaction, oldest first. Rows an older process writes during a rolling
upgrade are filled by the next `paysource migrate`.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from paysource.application.webhooks.catalog import webhook_event_id

BATCH = 5_000

_TODO = (
    "SELECT position, object_id, version FROM event_index"
    " WHERE event_id IS NULL ORDER BY position LIMIT %s"
)
_FILL = (
    "UPDATE event_index x SET event_id = v.event_id"
    " FROM unnest(%s::bigint[], %s::uuid[]) AS v(position, event_id)"
    " WHERE x.position = v.position AND x.event_id IS NULL"
)


def fill_event_ids(
    database_url: str, *, batch: int = BATCH, say: Callable[[int], None] = lambda _: None
) -> int:
    """Give every row without an event id its id; how many were filled. `say` hears
    the running count after each batch (a log of millions takes a while)."""
    filled = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        # One filler at a time (`serve` on several hosts migrates at once): two would
        # update the same rows in no agreed order, and could deadlock. The lock goes
        # with the session.
        conn.execute("SELECT pg_advisory_lock(hashtext('paysource:fill_event_ids'))")
        while rows := conn.execute(_TODO, (batch,)).fetchall():
            positions = [row[0] for row in rows]
            ids = [webhook_event_id(row[1], row[2]) for row in rows]
            conn.execute(_FILL, (positions, ids))
            filled += len(rows)
            say(filled)
    return filled
