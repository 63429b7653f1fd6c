"""A woken follower lingers only under load: events after a quiet second, or at a script's
pace, are read at once; those following `BUSY_EVENTS` within the second wait, so their
neighbours join them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from eventsourcing.persistence import Tracking

from paysource.application.eventlog import (
    BUSY_EVENTS,
    BUSY_WINDOW_S,
    Event,
    EventStore,
    Follower,
    Wakeup,
)
from tests.unit.application.test_copied_events import an_aggregate

LINGER_S = 0.15


class Batches:
    """A handler noting the size of every batch it is handed."""

    name = "batches"
    topics: Sequence[str] = ()

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.tracked = 0

    def position(self) -> int:
        return self.tracked

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        if events:
            self.sizes.append(len(events))
        self.tracked = tracking.notification_id


class Script(Wakeup):
    """Instead of sleeping, each idle wait plays the next step: saves, a jump of the clock,
    then a wake-up. When the steps run out, the follower is stopped."""

    def __init__(self, steps: list[Callable[[], None]], stop: threading.Event) -> None:
        super().__init__()
        self.steps = steps
        self.stop = stop

    def wait(self, seen: int, timeout_s: float) -> None:
        if not self.steps:
            self.stop.set()
            return
        self.steps.pop(0)()
        self.notify()


class NotedStop(threading.Event):
    """The follower's stop event: notes the lingers (waits) asked of it, never sleeps."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


def test_a_follower_lingers_after_a_busy_second_and_not_after_a_quiet_one() -> None:
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    now = [1000.0]
    lingers: list[list[float]] = []
    stop = NotedStop()

    def arrive(count: int, *, after_s: float) -> Callable[[], None]:
        def step() -> None:
            lingers.append(list(stop.waits))
            now[0] += after_s
            for _ in range(count):
                store.save(an_aggregate())

        return step

    steps = [
        arrive(BUSY_EVENTS, after_s=5.0),  # a burst after a quiet time: read at once
        arrive(2, after_s=0.01),  # right behind it: linger
        arrive(1, after_s=BUSY_WINDOW_S + 0.01),  # after a quiet second: at once
    ]
    handler = Batches()
    follower = Follower(
        store, handler, wakeup=Script(steps, stop), linger_s=LINGER_S, clock=lambda: now[0]
    )
    follower.run(stop)
    lingers.append(list(stop.waits))

    # The lingers seen before each arrival, and at the end. The burst is read at once,
    # then the follower, now busy, lingers before reading on; the second arrival is
    # lingered for once woken and after its batch; after the quiet second, none.
    assert lingers == [[], [LINGER_S], [LINGER_S] * 3, [LINGER_S] * 3]
    assert handler.sizes == [BUSY_EVENTS, 2, 1]


def test_events_at_a_scripts_pace_are_read_at_once() -> None:
    """A script's commands, a few a second, each right behind the last: under the rate,
    so none lingers (a reader of what it just did sees it as soon as it is applied)."""
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    now = [1000.0]
    stop = NotedStop()

    def arrive() -> None:
        now[0] += 0.05
        for _ in range(3):
            store.save(an_aggregate())

    steps = [arrive] * 60  # 60 events a second: 180 in all, the rate only over 3 s
    follower = Follower(
        store, Batches(), wakeup=Script(steps, stop), linger_s=LINGER_S, clock=lambda: now[0]
    )
    follower.run(stop)
    assert stop.waits == []


def test_no_linger_when_it_is_off() -> None:
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    stop = NotedStop()

    def arrive() -> None:
        store.save(an_aggregate())

    follower = Follower(store, Batches(), wakeup=Script([arrive] * 3, stop), linger_s=0.0)
    follower.run(stop)
    assert stop.waits == []


class ByPosition(Follower):
    """A follower with a `step` of its own, by log position alone (as the audit log's)."""

    def step(self, scanned_to: int) -> tuple[int, bool]:
        head = self.store.head()
        return max(head, scanned_to), head > scanned_to


def test_a_follower_with_its_own_step_lingers_under_load_too() -> None:
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    now = [1000.0]
    stop = NotedStop()

    def arrive(count: int) -> Callable[[], None]:
        def step() -> None:
            now[0] += 0.01
            for _ in range(count):
                store.save(an_aggregate())

        return step

    follower = ByPosition(
        store,
        Batches(),
        wakeup=Script([arrive(BUSY_EVENTS), arrive(1)], stop),
        linger_s=LINGER_S,
        clock=lambda: now[0],
    )
    follower.run(stop)
    assert stop.waits == [LINGER_S] * 3  # after the burst, woken after it, after that batch


def test_a_full_batch_is_followed_at_once() -> None:
    """A backlog is read batch after batch without a pause: only the batch that is not
    full (the follower has caught up) is followed by a linger."""
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    stop = NotedStop()

    def arrive() -> None:
        for _ in range(250):
            store.save(an_aggregate())

    handler = Batches()
    follower = Follower(
        store,
        handler,
        wakeup=Script([arrive], stop),
        batch_size=200,
        linger_s=LINGER_S,
        clock=lambda: 1000.0,
    )
    follower.run(stop)
    assert handler.sizes == [200, 50]
    assert stop.waits == [LINGER_S]  # after the 50, not after the 200


class Nothing(Batches):
    """A handler of a topic no event has: a follower of rare events (payouts, disputes)."""

    topics: Sequence[str] = ("tests:Nothing",)


def test_a_follower_of_rare_events_lingers_while_the_log_is_busy() -> None:
    """Woken at every commit, it would read the tail hundreds of times a second under
    load and find nothing: the events it scanned past count as load, as handled ones do."""
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    now = [1000.0]
    stop = NotedStop()

    def arrive(count: int, *, after_s: float) -> Callable[[], None]:
        def step() -> None:
            now[0] += after_s
            for _ in range(count):
                store.save(an_aggregate())

        return step

    steps = [
        arrive(BUSY_EVENTS, after_s=0.01),  # scanned past: busy from here
        arrive(1, after_s=0.01),  # woken: lingers
        arrive(1, after_s=BUSY_WINDOW_S + 0.01),  # a quiet second later: at once
    ]
    handler = Nothing()
    follower = Follower(
        store, handler, wakeup=Script(steps, stop), linger_s=LINGER_S, clock=lambda: now[0]
    )
    follower.run(stop)
    assert handler.sizes == []
    assert stop.waits == [LINGER_S]
