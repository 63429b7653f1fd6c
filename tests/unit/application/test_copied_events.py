"""Followers that act outside the log skip the events a merchant's move copied in."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

from eventsourcing.persistence import Tracking
from hypothesis import given, settings
from hypothesis import strategies as st

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
        self.empty_calls = 0  # position-only writes

    def position(self) -> int:
        return self.tracked

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        self.seen.extend(event.originator_id for event in events)
        self.tracked = tracking.notification_id
        self.empty_calls += not events


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


def test_a_batch_wholly_copied_is_passed_over_without_its_events() -> None:
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


def test_a_follower_records_its_position_past_a_copied_range_at_once() -> None:
    """A move of the merchant onward from this cell waits until every follower's
    recorded position is past the merchant's events: copied ones too, even when nothing
    comes after them (an idle follower records only every `record_idle_every`)."""
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    things(store, 6)
    handler = follow(store, Ranges((4, 6)), batch_size=3)
    assert handler.tracked == 6
    assert handler.empty_calls == 1


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(0, 12),
    batch_size=st.integers(1, 5),
    cuts=st.lists(st.tuples(st.integers(1, 12), st.integers(0, 3)), max_size=3),
)
def test_a_caught_up_follower_has_recorded_the_head_and_written_only_when_it_skipped(
    count: int, batch_size: int, cuts: list[tuple[int, int]]
) -> None:
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ids = things(store, count)
    ranges = Ranges(*{(lo, lo + width) for lo, width in cuts})
    handler = follow(store, ranges, batch_size=batch_size)
    copied = {n for lo, hi in ranges.ranges for n in range(lo, hi + 1)}
    assert handler.seen == [i for n, i in enumerate(ids, start=1) if n not in copied]
    assert handler.tracked == count  # every event of the log, a handler's as well
    # A position-only write for a batch that skipped all it read, never for an idle read.
    whole_batches = -(-count // batch_size)
    assert handler.empty_calls <= min(whole_batches, len(copied & set(range(1, count + 1))))
