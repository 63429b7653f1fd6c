"""Following the event log: batches after a tracking position, never skipping one.

A `Follower` reads notifications after its handler's tracking position and hands
them over in batches; the handler applies a batch and records the batch's last
position in the same transaction, so each event takes effect exactly once, and a
crashed follower resumes where its last transaction committed. A handler that
fails stops the batch; the follower retries it with backoff and never moves past it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking

from paysource.application.store import ConcurrencyConflict, EventStore

log = logging.getLogger(__name__)

Event = DomainEventProtocol[UUID]


class BatchHandler(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def topics(self) -> Sequence[str]: ...

    def position(self) -> int:
        """The last notification id whose effects are committed."""
        ...

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        """Apply `events` and record `tracking` atomically; raise to apply none."""
        ...


class Wakeup:
    """Lets followers sleep until the log grows (a Postgres NOTIFY, a local save)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout_s: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._generation != seen, timeout=timeout_s)


class Follower:
    def __init__(
        self,
        store: EventStore,
        handler: BatchHandler,
        *,
        wakeup: Wakeup,
        batch_size: int = 200,
        poll_interval_s: float = 1.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.store = store
        self.handler = handler
        self.wakeup = wakeup
        self.batch_size = batch_size
        # Waiting on NOTIFY alone can stall when a notification is lost (eventsourcing
        # issue #305), so followers also poll on this timer.
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.failures = 0
        self.last_error: str | None = None

    def run(self, stop: threading.Event) -> None:
        scanned_to = self.handler.position()
        while not stop.is_set():
            generation = self.wakeup.generation
            try:
                scanned_to, worked = self.step(scanned_to)
            except Exception as error:  # noqa: BLE001  # report, back off, retry: never skip
                scanned_to = self._after_failure(error, scanned_to, stop)
                continue
            self.failures, self.last_error = 0, None
            if not worked:
                self.wakeup.wait(generation, self.poll_interval_s)

    def step(self, scanned_to: int) -> tuple[int, bool]:
        """Handle the next batch after `scanned_to`. Returns the new scan position and
        whether there was anything to handle."""
        head = self.store.head()
        if head <= scanned_to:
            return scanned_to, False
        batch = self.store.select(
            after=scanned_to, limit=self.batch_size, topics=self.handler.topics
        )
        batch = [(number, event) for number, event in batch if number <= head]
        if not batch:
            # Nothing of interest up to `head`: remember that in memory, so we do not
            # scan those rows again. Commits happen in id order (eventsourcing locks
            # the table to insert), so no earlier id can still appear.
            return head, False
        last_id = batch[-1][0]
        try:
            events = [event for _, event in batch]
            self.handler.handle_batch(events, Tracking(self.handler.name, last_id))
        except ConcurrencyConflict:
            # Another writer changed an aggregate (or another copy of this follower
            # advanced): nothing was applied; re-read the position and try again.
            return self.handler.position(), True
        return last_id, True

    def _after_failure(self, error: Exception, scanned_to: int, stop: threading.Event) -> int:
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}"
        delay = min(self.max_backoff_s, 0.1 * 2 ** min(self.failures, 10))
        log.error(
            "follower %s failed (attempt %d), retrying in %.1fs: %s",
            self.handler.name,
            self.failures,
            delay,
            self.last_error,
            exc_info=self.failures == 1,
        )
        stop.wait(delay)
        try:
            return self.handler.position()
        except Exception:  # noqa: BLE001  # the store may still be down: the failed batch
            return scanned_to  # was not applied, so the old position is still safe


def run_until_caught_up(follower: Follower, *, timeout_s: float = 30.0) -> None:
    """Handle batches until the follower reaches the head (tests, CLI tools)."""
    deadline = time.monotonic() + timeout_s
    scanned_to = follower.handler.position()
    while time.monotonic() < deadline:
        scanned_to, worked = follower.step(scanned_to)
        if not worked and scanned_to >= follower.store.head():
            return
    raise TimeoutError(f"{follower.handler.name} did not catch up in {timeout_s}s")
