"""The event store's recorder: eventsourcing's, with the check of a merchant's move.

Every insert of events that names ids (`application.move_fence`) asks Postgres, in its
own transaction and after the events table's lock, whether any of them is sealed by a
move (`refuse_moved_out`, migration 026). The lock is what a move's seal takes too, so
a seal is either committed before the check reads or waits for the write to commit
(and then sees its events). The check is one more statement in the insert's pipeline:
no round trip of its own (bench/fence_cost.py measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow

_REFUSE = "SELECT refuse_moved_out(%b::uuid[])"


class FencedProcessRecorder(PostgresProcessRecorder):
    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        fence = kwargs.get("fence")
        if fence:
            # Locked first (taking it again below is a no-op): a seal committed while
            # this write waited for the lock is seen by the check.
            self._lock_table(curs)
            curs.execute(_REFUSE, (list(fence),), prepare=True)
        super()._insert_stored_events(curs, stored_events, **kwargs)
