"""Group commit: concurrent commands share one transaction and one lock of the log.

eventsourcing's Postgres recorder takes the events table's EXCLUSIVE lock for every
insert, so separate saves queue behind each other, one commit at a time (measured here:
~560 saves/s whatever the thread count). One committer thread takes the saves waiting
at that moment (waiting at most `window_s` for more, up to `max_batch`), inserts all
their events in one transaction, and hands each caller its own notification ids.

A batch never fails an innocent neighbour:
- two saves in one batch writing the same aggregate version: the first in line goes,
  the others get `IntegrityError` at once (as the database would have said);
- the batch's insert is refused for a conflict with a committed row, or for any other
  reason that belongs to one item: each save is retried alone, in its own transaction,
  and gets its own answer;
- the database is unreachable: every save of the batch gets that error (they would
  have each met it alone).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)

from paysource.application.deadlines import remaining_s, spent

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 0.001
DEFAULT_MAX_BATCH = 64
# Errors of the connection, not of an item: retrying items alone would only wait longer.
_CONNECTION_ERRORS = (InterfaceError, OperationalError)


class Inserts(Protocol):
    """The part of eventsourcing's recorder that group commit drives."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None: ...


@dataclass(slots=True)
class _Save:
    events: Sequence[StoredEvent]
    fence: Sequence[UUID] = ()  # owners the insert refuses if a merchant's move sealed them
    answer: Future[list[int]] = field(default_factory=Future)

    def keys(self) -> set[tuple[UUID | str, int]]:
        return {(e.originator_id, e.originator_version) for e in self.events}


@dataclass(frozen=True, slots=True)
class BatchStats:
    """Counters for metrics and the bench: how much sharing happened."""

    batches: int
    saves: int
    isolated: int  # batches retried item by item


class GroupCommitter:
    """Start with `start()`; `save()` from any thread; `close()` drains and stops."""

    def __init__(
        self,
        recorder: Inserts,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        assert max_batch >= 1
        assert window_s >= 0
        self._recorder = recorder
        self._window_s = window_s
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Save | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._batches = self._saves = self._isolated = 0
        self._observers: list[Callable[[int], None]] = []

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()

    def save(self, events: Sequence[StoredEvent], fence: Sequence[UUID] = ()) -> list[int]:
        """Insert `events` atomically, in a batch with whatever else is being saved;
        their notification ids, or the error this save alone would have met."""
        answer = self.submit(events, fence)
        # A request waits no longer than its database budget (the committer thread has
        # none of its own); past it the log decides: a retry replays what committed.
        left = remaining_s()
        try:
            return answer.result(timeout=None if left is None else max(0.0, left))
        except FutureTimeout:
            raise spent() from None

    async def save_async(
        self, events: Sequence[StoredEvent], fence: Sequence[UUID] = ()
    ) -> list[int]:
        """`save` for a caller on an event loop: it awaits the batch's commit instead of
        holding a thread, within the same budget."""
        # Shielded: a request out of time stops waiting, but its save stays in the
        # batch (as `save`'s does) and the committer can still hand out its answer,
        # which nobody reads then (hence the callback: no "never retrieved" warning).
        answer = asyncio.wrap_future(self.submit(events, fence))
        answer.add_done_callback(_retrieved)
        left = remaining_s()
        try:
            return await asyncio.wait_for(
                asyncio.shield(answer), None if left is None else max(0.0, left)
            )
        except TimeoutError:
            raise spent() from None

    def submit(
        self, events: Sequence[StoredEvent], fence: Sequence[UUID] = ()
    ) -> Future[list[int]]:
        """Queue `events` for the next batch; the future holds what `save` returns."""
        self.start()
        item = _Save(events, fence)
        self._queue.put(item)
        return item.answer

    def observe(self, observer: Callable[[int], None]) -> None:
        """Call `observer` with the size of every batch committed from now on (metrics)."""
        self._observers.append(observer)

    def stats(self) -> BatchStats:
        return BatchStats(self._batches, self._saves, self._isolated)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)

    # The committer thread ----------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            self._commit(batch)
            if stop:
                return

    def _gather(self, first: _Save) -> tuple[list[_Save], bool]:
        """The saves waiting now, and those arriving within the window, up to a batch."""
        batch = [first]
        deadline = time.monotonic() + self._window_s
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, batch: list[_Save]) -> None:
        self._batches += 1
        self._saves += len(batch)
        for observer in self._observers:
            observer(len(batch))
        runnable = _refuse_twins(batch)
        try:
            ids = self._recorder.insert_events(
                [e for item in runnable for e in item.events],
                fence=list(dict.fromkeys(i for item in runnable for i in item.fence)),
            )
        except _CONNECTION_ERRORS as error:
            for item in runnable:
                item.answer.set_exception(error)
        except Exception:  # noqa: BLE001  # one item's fault: find whose, alone
            self._isolated += 1
            self._one_by_one(runnable)
        else:
            _hand_out(runnable, list(ids or ()))

    def _one_by_one(self, batch: list[_Save]) -> None:
        for item in batch:
            try:
                ids = self._recorder.insert_events(item.events, fence=item.fence)
            except Exception as error:  # noqa: BLE001  # the caller raises it
                item.answer.set_exception(error)
            else:
                item.answer.set_result(list(ids or ()))


def _retrieved(answer: asyncio.Future[list[int]]) -> None:
    if not answer.cancelled():
        answer.exception()


def _refuse_twins(batch: list[_Save]) -> list[_Save]:
    """Saves writing an aggregate version an earlier save of the batch writes lose at
    once, as they would have against the committed row (the first in line wins)."""
    seen: set[tuple[UUID | str, int]] = set()
    runnable = []
    for item in batch:
        keys = item.keys()
        if keys & seen:
            item.answer.set_exception(IntegrityError("another save writes this version"))
            continue
        seen |= keys
        runnable.append(item)
    return runnable


def _hand_out(batch: list[_Save], ids: list[int]) -> None:
    """Each save gets the notification ids of its own events, in order."""
    start = 0
    for item in batch:
        end = start + len(item.events)
        item.answer.set_result(ids[start:end])
        start = end
