"""The event store's recorder: eventsourcing's, with the check of a merchant's move.

Every insert of events asks Postgres, after the events table's lock and in the insert
statement itself, whether a move sealed any of the write's owners
(`application.move_fence`; `refuse_moved_out`, migration 027). The seal's rows are
committed before the seal takes this lock too, so a write either reads them after its
lock, or had its lock first, and the seal waits for it to commit (and then sees its
events). In the insert, not a statement of
its own: as many statements and round trips as before, and a one-time filter of the
insert's plan (bench/fence_cost.py measures what it costs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

_RETURNING = " RETURNING notification_id"
_CHECKED = " WHERE (SELECT refuse_moved_out(%b::uuid[]))" + _RETURNING


class FencedProcessRecorder(PostgresProcessRecorder):
    _checked_insert: SQL | None = None

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        fence = kwargs.get("fence")
        if not fence:
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        # eventsourcing's steps (PostgresApplicationRecorder's and its base's), with
        # the check in the insert: after the lock, so a seal committed while this
        # write waited for it is seen.
        self._lock_table(curs)
        self._notify_channel(curs)
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        curs.execute(self._checked(), (rows, list(fence)))

    def _checked(self) -> SQL:
        """The insert statement (as `eventlog._insert_in_binary` left it, after this
        recorder was made) with the check as its one-time filter."""
        if self._checked_insert is None:
            text = self.insert_events_statement.as_string(None)
            assert text.endswith(_RETURNING), "eventsourcing's insert changed: see recorder.py"
            self._checked_insert = SQL(text.removesuffix(_RETURNING) + _CHECKED)
        return self._checked_insert
