"""The newest part of the log, fetched and decoded once for every follower of a process.

A worker runs a dozen followers (processor partitions, read models, the notifier, the
audit log, the webhook outbox) over the same new events. Each used to read the head,
then select and decode its own copy of them: under load that was the worker's largest
cost (bench/README.md, "The batched pipeline"). The tail reads each new notification
once, decodes it once, and hands every follower its topics from memory.

It holds the notifications in (`lo`, `hi`], a contiguous stretch of the log: rows are
committed in id order (eventsourcing inserts under a table lock), so one query after
`hi` returns a gap-free run. A follower behind `lo` (a backlog, a rebuild) reads the
database itself, as before. The tail refreshes when the caller has seen a wake-up
(a Postgres NOTIFY) newer than its last refresh, or when its copy is older than
`max_age_s` (a lost notification must not stall anyone), or when asked to (`seen` None).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

log = logging.getLogger(__name__)

Event = DomainEventProtocol[UUID]
Fetch = Callable[[int, int], Sequence[Any]]  # (after, limit) → notifications, in id order


class LogTail:
    def __init__(
        self,
        fetch: Fetch,
        decode: Callable[[Any], Event],
        head: Callable[[], int],
        *,
        capacity: int = 20_000,
        fetch_limit: int = 1000,
        max_age_s: float = 0.25,
    ) -> None:
        self._fetch, self._decode, self._head = fetch, decode, head
        self._capacity, self._fetch_limit, self._max_age_s = capacity, fetch_limit, max_age_s
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._entries: list[tuple[str, Event]] = []
        self._lo = self._hi = -1  # nothing held yet
        self._refreshed_seen = -1
        self._refreshed_at = 0.0

    def select(
        self, *, after: int, limit: int, topics: Sequence[str], seen: int | None
    ) -> tuple[list[tuple[int, Event]], int] | None:
        """Up to `limit` events of `topics` after `after`, and how far that scan went:
        every event of `topics` up to it was returned. None: `after` is not held here
        (or the tail cannot read the log): read the database instead."""
        with self._lock:
            stale = not self._fresh(seen) or after > self._hi
            if stale and not self._refresh(seen):
                return None
            if after < self._lo:
                return None
            wanted = frozenset(topics)
            found: list[tuple[int, Event]] = []
            start = bisect.bisect_right(self._ids, after)
            for index in range(start, len(self._ids)):
                topic, event = self._entries[index]
                if not wanted or topic in wanted:
                    found.append((self._ids[index], event))
                    if len(found) == limit:
                        return found, self._ids[index]
            return found, max(after, self._hi)

    def _fresh(self, seen: int | None) -> bool:
        if seen is None or self._hi < 0:
            return False
        recent = time.monotonic() - self._refreshed_at < self._max_age_s
        return seen <= self._refreshed_seen and recent

    def _refresh(self, seen: int | None) -> bool:
        began = time.monotonic()
        try:
            if self._hi < 0:
                self._lo = self._hi = self._head()
            for _ in range(10):  # at most 10 fetches a call; the rest waits for the next
                rows = self._fetch(self._hi, self._fetch_limit)
                for row in rows:
                    self._ids.append(row.id)
                    self._entries.append((row.topic, self._decode(row)))
                if rows:
                    self._hi = rows[-1].id
                if len(rows) < self._fetch_limit:
                    break
        except Exception:
            log.exception("the log tail could not read the log; followers read it themselves")
            self._ids, self._entries, self._lo, self._hi = [], [], -1, -1
            return False
        self._trim()
        self._refreshed_at = began
        if seen is not None:
            self._refreshed_seen = max(self._refreshed_seen, seen)
        return True

    def _trim(self) -> None:
        if len(self._ids) > self._capacity:
            cut = len(self._ids) - self._capacity // 2
            self._lo = self._ids[cut - 1]
            del self._ids[:cut], self._entries[:cut]
