"""Followers that act outside the log skip the events a merchant's move copied in."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

from eventsourcing.persistence import Tracking

from paysource.application.eventlog import (
    Event,
    EventStore,
    Follower,
    Wakeup,
    run_until_caught_up,
)
from paysource.domain.fees import FeeSchedule
from paysource.domain.merchant import Merchant
from paysource.domain.meta import ActorKind, Meta


def an_aggregate() -> Merchant:
    """Any aggregate will do (a class of our own would join the domain's event set)."""
    return Merchant.register(
        merchant_id=uuid4(),
        name="M",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        request_hash="h",
        meta=Meta(ActorKind.ADMIN, "test"),
    )


class Recorder:
    """A handler that notes what it was handed and where it recorded its position."""

    name = "recorder"
    topics: Sequence[str] = ()

    def __init__(self) -> None:
        self.seen: list[object] = []
        self.tracked = 0

    def position(self) -> int:
        return self.tracked

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        self.seen.extend(event.originator_id for event in events)
        self.tracked = tracking.notification_id


class Ranges:
    def __init__(self, *ranges: tuple[int, int]) -> None:
        self.ranges = list(ranges)
        self.asked: list[tuple[int, int]] = []

    def between(self, after: int, upto: int) -> list[tuple[int, int]]:
        self.asked.append((after, upto))
        return [(lo, hi) for lo, hi in self.ranges if hi > after and lo <= upto]


def things(store: EventStore, count: int) -> list[object]:
    made = [an_aggregate() for _ in range(count)]
    for thing in made:
        store.save(thing)
    return [thing.id for thing in made]


def follow(store: EventStore, ranges: Ranges | None, batch_size: int = 200) -> Recorder:
    handler = Recorder()
    follower = Follower(store, handler, wakeup=Wakeup(), batch_size=batch_size, skip_copied=ranges)
    run_until_caught_up(follower)
    return handler


def test_a_follower_that_acts_skips_the_copied_positions_and_handles_the_rest() -> None:
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ids = things(store, 6)
    handler = follow(store, Ranges((2, 4)))
    assert handler.seen == [ids[0], ids[4], ids[5]]
    assert handler.tracked == 6


def test_a_batch_wholly_copied_is_passed_over_without_a_call() -> None:
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ids = things(store, 6)
    handler = follow(store, Ranges((1, 3)), batch_size=3)
    assert handler.seen == ids[3:]
    assert handler.tracked == 6


def test_without_ranges_a_follower_handles_everything() -> None:
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ids = things(store, 4)
    assert follow(store, None).seen == ids
    assert follow(store, Ranges()).seen == ids
