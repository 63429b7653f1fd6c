"""One batch of a partitioned process manager, run in lanes that cannot hurt each other.

A lane is one payment's events in the batch, with the aggregates they need. A batch:

1. loads every lane's aggregates in one query (`UnitOfWork.preload`);
2. runs the lanes concurrently on the pool (their acquirer calls overlap; they share
   no aggregate, so no lock is held across I/O);
3. appends every lane's new events and the batch's tracking position in one
   transaction: the batch takes effect exactly once.

Isolation: a lane whose aggregates moved on meanwhile (a merchant's capture or cancel
committed first: the append conflicts) is reloaded and run again, alone, and the
batch appended again with its neighbours' events as they were. A lane that fails
(an exception: an acquirer that cannot be reached, a bug) is left out: its
neighbours' events are appended without the tracking position, then the failure is
raised, so the follower retries the batch from the old position and never skips the
failed event. Redoing a batch is safe because every acquirer call carries the same
idempotency key each time, and each handler acts only on a state its event has not
yet changed (a payment still `processing`, a refund still `pending`, a relay not yet
recorded as refused).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import Tracking

from paysource.application.eventlog import ConcurrencyConflict, Event, EventStore
from paysource.processes.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

# Rounds of reloading the lanes that conflicted before the follower retries the batch.
CONFLICT_ROUNDS = 3

Handle = Callable[[Event, UnitOfWork], None]


@dataclass
class Lane:
    """One payment's events in a batch and the aggregates they touch."""

    key: UUID
    events: list[Event] = field(default_factory=list)
    aggregate_ids: set[UUID] = field(default_factory=set)
    recorded: list[Event] = field(default_factory=list)
    error: Exception | None = None

    def run(self, handle: Handle, uow: UnitOfWork) -> None:
        try:
            for event in self.events:
                handle(event, uow)
        except Exception as error:  # noqa: BLE001  # isolated: reported by run_batch
            uow.collect(self.aggregate_ids)  # half-done: its events must not be saved
            self.recorded, self.error = [], error
            log.warning("a payment of the batch failed; its neighbours go on: %r", error)
        else:
            self.recorded, self.error = uow.collect(self.aggregate_ids), None


def run_batch(
    store: EventStore,
    lanes: list[Lane],
    tracking: Tracking,
    handle: Handle,
    pool: ThreadPoolExecutor | None,
) -> None:
    """Run `lanes` and append their events with `tracking`, as the module says."""
    uow = UnitOfWork(store)
    uow.preload(i for lane in lanes for i in sorted(lane.aggregate_ids))
    versions = {i: uow.version(i) for lane in lanes for i in lane.aggregate_ids}
    _run_lanes(lanes, handle, uow, pool)
    for _ in range(CONFLICT_ROUNDS):
        done = [lane for lane in lanes if lane.error is None]
        failed = [lane for lane in lanes if lane.error is not None]
        try:
            written = {i for lane in done for i in lane.aggregate_ids}
            store.append(
                [event for lane in done for event in lane.recorded],
                written=[a for a in uow.aggregates() if a.id in written],
                tracking=None if failed else tracking,
            )
        except ConcurrencyConflict:
            moved = _moved(store, done, versions)
            if not moved:
                raise  # no aggregate moved: the tracking row did (another copy of us)
            log.info("%d payment(s) of the batch changed meanwhile: redone", len(moved))
            fresh = UnitOfWork(store)
            fresh.preload(i for lane in moved for i in sorted(lane.aggregate_ids))
            versions.update({i: fresh.version(i) for lane in moved for i in lane.aggregate_ids})
            _run_lanes(moved, handle, fresh, pool)
            continue
        if failed:
            raise failed[0].error  # type: ignore[misc]  # the follower retries the batch
        return
    raise ConcurrencyConflict


def _run_lanes(
    lanes: list[Lane], handle: Handle, uow: UnitOfWork, pool: ThreadPoolExecutor | None
) -> None:
    if pool is not None and len(lanes) > 1:
        list(pool.map(lambda lane: lane.run(handle, uow), lanes))
    else:
        for lane in lanes:
            lane.run(handle, uow)


def _moved(
    store: EventStore, lanes: Iterable[Lane], versions: dict[UUID, int | None]
) -> list[Lane]:
    """The lanes some aggregate of which is at another version than the one loaded."""
    lanes = list(lanes)
    now = store.get_many(i for lane in lanes for i in lane.aggregate_ids)
    return [
        lane
        for lane in lanes
        if any(
            (now[i].version if i in now else None) != versions.get(i) for i in lane.aggregate_ids
        )
    ]
