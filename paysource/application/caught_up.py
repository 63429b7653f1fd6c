"""Waiting for a read model before a command decides on it.

Two commands let a read model nominate what they then decide on: closing a settlement
(the settlements view's waiting items) and importing a reconciliation file (the
ledger's items). The event store decides what is claimed or cleared, but what the
read model has not applied yet is not even considered: a settlement closed a moment
after a capture left it out, and a file imported a moment after its payment's capture
recorded a false `extra` break, whose later clearing then resolved the wrong break.

So such a command first waits until its read model has applied every event of its
topics committed before the command began (log position `head` at the call). A read
model that is caught up costs two or three short queries; one that stays behind longer than
`timeout_s` refuses the command as `ReadModelBehind` (503, retry), rather than deciding
on an old picture.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from paysource.application.deadlines import extend_budget
from paysource.application.errors import ReadModelBehind
from paysource.application.eventlog import EventStore

log = logging.getLogger(__name__)

# Read models trail the log by well under a second under load (bench/README.md).
CATCH_UP_TIMEOUT_S = 5.0
# Polls start quick (a read model a batch behind catches up in milliseconds) and slow
# down to ten a second (one stuck behind need not be asked 500 times).
FIRST_POLL_S = 0.01
LAST_POLL_S = 0.1


class CaughtUp:
    """Call it to wait until the read model `name` (following `topics`, applied up to
    `position()`) has applied every event committed before the call."""

    def __init__(
        self,
        store: EventStore,
        name: str,
        topics: Sequence[str],
        position: Callable[[], int],
        *,
        timeout_s: float = CATCH_UP_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store, self.name, self._topics = store, name, tuple(topics)
        self._position = position
        self._timeout_s, self._clock, self._sleep = timeout_s, clock, sleep

    def __call__(self) -> None:
        head = self._store.head()
        began = self._clock()
        pause = FIRST_POLL_S
        behind = self._behind(head)
        while behind:
            if self._clock() - began >= self._timeout_s:
                raise ReadModelBehind(
                    f"the {self.name} read model has not caught up with the log after"
                    f" {self._timeout_s:g}s (the worker applies it: `paysource projections"
                    " status` shows its lag); try again shortly"
                )
            polled = time.monotonic()
            self._sleep(pause)
            behind = self._behind(head)
            # A request's database budget (2 s by default) bounds each of these short
            # queries, not the wait: the wait has its own timeout. Counted, a wait under
            # load answered "the database did not answer in time" (a fresh clone's suite).
            extend_budget(time.monotonic() - polled)
            pause = min(2 * pause, LAST_POLL_S)
        waited = self._clock() - began
        if waited >= 1.0:
            log.info("waited %.1fs for the %s read model to catch up", waited, self.name)

    def _behind(self, head: int) -> bool:
        """An event of the topics at or before `head` that the read model has not applied.
        Its position alone is not enough: a read model records it only now and then
        while the log's events are not its topics (`Follower.record_idle_every`)."""
        position = self._position()
        if position >= head:
            return False
        pending = self._store.select(after=position, limit=1, topics=self._topics)
        return bool(pending) and pending[0][0] <= head


def once(wait: Callable[[], None]) -> Callable[[], None]:
    """`wait` on the first call only: for a command whose retries (after a conflict) need
    not wait again, as what they missed is in the event store, which decides."""
    done = False

    def first_time() -> None:
        nonlocal done
        if not done:
            wait()
            done = True

    return first_time
