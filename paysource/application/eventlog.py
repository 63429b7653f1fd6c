"""The event log of one cell, and following it.

The store: every aggregate's events in one append-only log.

A thin layer over an `eventsourcing` Application: typed loads, one atomic save of
several aggregates (optionally with a tracking position), and infrastructure
errors translated into the application's error tree at this boundary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    Notification,
    PersistenceError,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg.sql import SQL, Composable

from paysource.application.errors import MerchantMoving, Unavailable
from paysource.application.event_rows import LogRow, fold, log_rows, stored_events
from paysource.application.group_commit import (
    DEFAULT_MAX_BATCH,
    DEFAULT_WINDOW_S,
    BatchStats,
    GroupCommitter,
)
from paysource.application.logtail import LogTail
from paysource.application.move_fence import moved_out, owners
from paysource.application.personal_data import SealingMapper
from paysource.application.ports import PersonalDataVault
from paysource.application.tracing import span
from paysource.domain import customer, dispute
from paysource.domain.aggregate import PaysourceAggregate

log = logging.getLogger(__name__)

A = TypeVar("A", bound=PaysourceAggregate)

LOG_NAME = "paysource"
# Every event class with personal fields (sealed by the mapper, docs/decisions.md).
PERSONAL = {**customer.PERSONAL, **dispute.PERSONAL}


class ConcurrencyConflict(Exception):  # a signal to retry, not a failure
    """Another writer got there first (an aggregate version, a claim, a tracking row)."""


class _EventLog(Application[UUID]):
    name = LOG_NAME

    def __init__(self, env: dict[str, str], vault: PersonalDataVault | None) -> None:
        self._vault = vault  # read by construct_mapper, which the base __init__ calls
        super().__init__(env=env)

    def construct_mapper(self) -> Mapper[UUID]:
        mapper = super().construct_mapper()
        # Without a vault (unit tests on the in-memory store) events are stored as is.
        return mapper if self._vault is None else SealingMapper(mapper, self._vault, PERSONAL)

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder can store a tracking position with the events, which the
        # workers need; it is a plain application recorder otherwise.
        recorder = self.factory.process_recorder()
        _insert_in_binary(recorder)
        return recorder


def _insert_in_binary(recorder: object) -> None:
    """Send the events of an insert to Postgres in binary. eventsourcing passes them as
    one array of a composite type with `%s`, which psycopg dumps as text, escaping each
    event's bytes in Python: half of an insert's CPU (bench/insert_format.py: 0.091-0.099
    ms per event in text, 0.049-0.052 in binary). Left as it is if the statement is not
    the one expected (another eventsourcing, or the in-memory recorder of unit tests)."""
    statement = getattr(recorder, "insert_events_statement", None)
    if not isinstance(statement, Composable):
        return
    text = statement.as_string(None)
    if text.count("%s::") == 1 and "%" not in text.replace("%s::", "", 1):
        recorder.insert_events_statement = SQL(text.replace("%s::", "%b::"))  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class GroupCommitSettings:
    window_s: float = DEFAULT_WINDOW_S
    max_batch: int = DEFAULT_MAX_BATCH


class EventStore:
    def __init__(
        self,
        env: Mapping[str, str],
        *,
        group_commit: GroupCommitSettings | None = None,
        vault: PersonalDataVault | None = None,
    ) -> None:
        self._app = _EventLog(dict(env), vault)
        # The newest events, read and decoded once for every follower of this process.
        self.tail = LogTail(
            lambda after, n: self.select_rows(after=after, limit=n),
            self.decode,
            self.head,
        )
        # Saves without a tracking position (commands) share transactions; a process's
        # save with its tracking position stays its own transaction.
        self._group = (
            None
            if group_commit is None
            else GroupCommitter(
                self.recorder, window_s=group_commit.window_s, max_batch=group_commit.max_batch
            )
        )

    @property
    def recorder(self) -> ProcessRecorder:
        recorder = self._app.recorder
        assert isinstance(recorder, ProcessRecorder)
        return recorder

    def decode(self, notification: Any) -> DomainEventProtocol[UUID]:
        return self._app.mapper.to_domain_event(notification)

    def get(self, aggregate_id: UUID, kind: type[A], *, version: int | None = None) -> A | None:
        """The aggregate (as of `version`), or None if absent or of another kind."""
        try:
            with span("db load_aggregate", attributes={"db.system": "postgresql"}):
                # Absent is an answer, not an error: caught inside the span, which would
                # otherwise format and record its traceback (5% of a worker's CPU).
                try:
                    aggregate: object = self._app.repository.get(aggregate_id, version=version)
                except AggregateNotFoundError:
                    return None
        except PersistenceError as error:
            raise _unavailable(error) from None
        return aggregate if isinstance(aggregate, kind) else None

    def get_many(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, PaysourceAggregate]:
        """Each aggregate found, latest state, all read in one query (not one per id)."""
        wanted = list(dict.fromkeys(aggregate_ids))
        if not wanted:
            return {}
        try:
            with span("db load_aggregates", attributes={"db.system": "postgresql"}):
                rows = stored_events(self.recorder, wanted)
        except PersistenceError as error:
            raise _unavailable(error) from None
        if rows is None:  # not Postgres (the in-memory store of unit tests): one by one
            found = {i: self.get(i, PaysourceAggregate) for i in wanted}
            return {i: a for i, a in found.items() if a is not None}
        folded = fold(self._app.mapper.to_domain_event(row) for row in rows)
        return {i: a for i, a in folded.items() if isinstance(a, PaysourceAggregate)}

    def history(
        self, aggregate_id: UUID, *, limit: int | None = None
    ) -> list[DomainEventProtocol[UUID]]:
        try:
            return list(self._app.events.get(aggregate_id, limit=limit))
        except PersistenceError as error:
            raise _unavailable(error) from None

    def event(self, aggregate_id: UUID, version: int) -> DomainEventProtocol[UUID] | None:
        """Version `version`'s event of the aggregate (None if absent)."""
        try:
            found = list(self._app.events.get(aggregate_id, gt=version - 1, lte=version))
        except PersistenceError as error:
            raise _unavailable(error) from None
        return found[0] if found else None

    def save(
        self, *aggregates: PaysourceAggregate | None, tracking: Tracking | None = None
    ) -> list[Recording[UUID]]:
        """Append the pending events of `aggregates` in one transaction, or none of them.

        Raises ConcurrencyConflict when any aggregate moved on since it was loaded.
        """
        events: list[DomainEventProtocol[UUID]] = []
        for aggregate in aggregates:
            if aggregate is not None:
                events.extend(aggregate.collect_events())
        return self.append(events, written=aggregates, tracking=tracking)

    def append(
        self,
        events: Sequence[DomainEventProtocol[UUID]],
        *,
        written: Iterable[PaysourceAggregate | None],
        tracking: Tracking | None = None,
    ) -> list[Recording[UUID]]:
        """Append `events`, collected from the aggregates `written`, as `save` does (the
        insert refuses them if a merchant's move sealed their owners: `move_fence`)."""
        events = list(events)
        if not events and tracking is None:
            return []
        attributes: dict[str, str | int | bool] = {"db.system": "postgresql", "events": len(events)}
        fence = owners(events, written)
        if tracking is None and self._group is not None:
            with span("db append_events", attributes={**attributes, "group_commit": True}):
                return self._save_grouped(events, fence)
        try:
            with span("db append_events", attributes=attributes):
                return self._app.events.put(events, tracking=tracking, fence=fence)
        except IntegrityError:
            raise ConcurrencyConflict from None
        except PersistenceError as error:
            raise _failed(error) from None

    def _save_grouped(
        self, events: list[DomainEventProtocol[UUID]], fence: list[UUID]
    ) -> list[Recording[UUID]]:
        assert self._group is not None
        try:
            # Mapping (and any error in it) stays in the caller's thread, with its
            # request; it may read the personal-data vault, hence inside the try.
            stored = [self._app.mapper.to_stored_event(event) for event in events]
            ids = self._group.save(stored, fence)
        except IntegrityError:
            raise ConcurrencyConflict from None
        except PersistenceError as error:
            raise _failed(error) from None
        return _recordings(events, stored, ids)

    @property
    def commits_in_groups(self) -> bool:
        """Whether `save_async` can be used (saves share group commits)."""
        return self._group is not None

    async def save_async(self, *aggregates: PaysourceAggregate) -> list[Recording[UUID]]:
        """`save` for a caller on an event loop, through group commit, awaiting its batch
        instead of holding a thread. Only for events whose mapping reads nothing (no
        personal data to seal: the vault would be read on the loop)."""
        assert self._group is not None, "no group commit: save in a thread"
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        attributes: dict[str, str | int | bool] = {
            "db.system": "postgresql",
            "events": len(events),
            "group_commit": True,
        }
        with span("db append_events", attributes=attributes):
            mapper = self._app.mapper
            if isinstance(mapper, SealingMapper):  # the vault must not be read on the loop
                assert not any(map(mapper.seals, events)), "personal data: save in a thread"
            try:
                stored = [mapper.to_stored_event(event) for event in events]
                ids = await self._group.save_async(stored, owners(events, aggregates))
            except IntegrityError:
                raise ConcurrencyConflict from None
            except PersistenceError as error:
                raise _failed(error) from None
        return _recordings(events, stored, ids)

    def observe_group_commits(self, observer: Callable[[int], None]) -> None:
        """Call `observer` with each group commit's size (no-op without group commit)."""
        if self._group is not None:
            self._group.observe(observer)

    def group_commit_stats(self) -> BatchStats | None:
        """How much sharing group commit did (None: saves commit one by one)."""
        return None if self._group is None else self._group.stats()

    def head(self) -> int:
        """The id of the newest notification in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def position(self, follower_name: str) -> int:
        return self.recorder.max_tracking_id(follower_name) or 0

    def select(
        self, *, after: int, limit: int, topics: Sequence[str] = ()
    ) -> list[tuple[int, DomainEventProtocol[UUID]]]:
        return [
            (n.id, self.decode(n))
            for n in self.select_rows(after=after, limit=limit, topics=topics)
        ]

    def select_rows(
        self, *, after: int, limit: int, topics: Sequence[str] = ()
    ) -> Sequence[LogRow | Notification]:
        """Up to `limit` stored events after position `after`, of `topics` if given, in
        log order, undecoded (`decode` takes each)."""
        recorder = self.recorder
        if isinstance(recorder, PostgresAggregateRecorder):
            rows: list[LogRow] = log_rows(recorder, after=after, limit=limit, topics=topics)
            return rows
        return recorder.select_notifications(  # the in-memory store of unit tests
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        self._app.close()


def _notification(row: StoredEvent, notification_id: int) -> Notification:
    return Notification(
        originator_id=row.originator_id,
        originator_version=row.originator_version,
        topic=row.topic,
        state=row.state,
        id=notification_id,
    )


def _failed(error: PersistenceError) -> Unavailable | MerchantMoving:
    if moved_out(error):  # a write routed before the merchant's move, refused after it
        return MerchantMoving(
            "this merchant moved to another cell; retry (retries with the same"
            " Idempotency-Key are safe)"
        )
    return _unavailable(error)


def _unavailable(error: Exception) -> Unavailable:
    # The driver's message (hosts, ports) is for our logs, not for API clients.
    log.warning("event store unavailable: %s", error)
    return Unavailable("the event store is unavailable; retry shortly")


# Following the log --------------------------------------------------------------
# A `Follower` reads notifications after its handler's tracking position and hands
# them over in batches; the handler applies a batch and records the batch's last
# position in the same transaction, so each event takes effect exactly once, and a
# crashed follower resumes where its last transaction committed. A handler that
# fails stops the batch; the follower retries it with backoff and never moves past it.

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


class CopiedRanges(Protocol):
    """Log positions that hold events copied in from another cell (a moved merchant's).

    Their effects outside the log (acquirer calls, payouts, notices, webhooks) happened
    in the source cell, so side-effect followers skip them; projections apply them."""

    def between(self, after: int, upto: int) -> list[tuple[int, int]]:
        """The (first, last) ranges that overlap (after, upto]."""
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


# A follower whose batches or scans took it this far along the log (events of any topic)
# in the last `BUSY_WINDOW_S` is under load: it lingers once woken. A script's commands
# a moment apart stay far below (a few events a second: its reads must not lag more);
# the bench's 230-300 payments/s, each three or four events, far above.
BUSY_WINDOW_S = 1.0
BUSY_EVENTS = 100


@dataclass(slots=True)
class Linger:
    """How long a follower waits before reading on (woken, or after a batch that was not
    full), so the commits of that moment make one batch. Only under load: `BUSY_EVENTS`
    passed within `BUSY_WINDOW_S`. Each batch costs a read model a transaction and five or
    so statements whatever its size, and at 230-300 payments/s unlingered batches held
    about 7 payments: 150 ms cut the worker's CPU per payment by a quarter or more and
    Postgres's by a third, at the same lags (bench/README.md). Below that rate, events
    are read at once."""

    seconds: float
    _recent: deque[tuple[float, int]] = field(default_factory=deque)  # (when, events)
    _events: int = 0  # the sum over `_recent`

    def handled(self, now: float, events: int) -> None:
        self._recent.append((now, events))
        self._events += events
        self._forget(now)

    def before_reading(self, now: float) -> float:
        self._forget(now)
        return self.seconds if self._events >= BUSY_EVENTS else 0.0

    def _forget(self, now: float) -> None:
        while self._recent and now - self._recent[0][0] >= BUSY_WINDOW_S:
            self._events -= self._recent.popleft()[1]


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
        linger_s: float = 0.0,
        record_idle_every: int = 1000,
        skip_copied: CopiedRanges | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._clock = clock
        self.record_idle_every = record_idle_every
        self._recorded: int | None = None  # the position last recorded; None: not read yet
        self.skip_copied = skip_copied
        self.linger = Linger(linger_s)
        self.handler = handler
        self.wakeup = wakeup
        self.batch_size = batch_size
        # Waiting on NOTIFY alone can stall when a notification is lost (eventsourcing
        # issue #305), so followers also poll on this timer.
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.failures = 0
        self.last_error: str | None = None
        self._seen: int | None = None  # the wake-up generation `run` saw; None: read anew

    def run(self, stop: threading.Event) -> None:
        scanned_to = self.handler.position()
        while not stop.is_set():
            generation = self._seen = self.wakeup.generation
            before = scanned_to
            try:
                scanned_to, worked = self.step(scanned_to)
            except Exception as error:  # noqa: BLE001  # report, back off, retry: never skip
                scanned_to = self._after_failure(error, scanned_to, stop)
                continue
            self.failures, self.last_error = 0, None
            if worked:
                self._after_batch(max(0, scanned_to - before), stop)
                continue
            # The log passing by counts as load too: else a follower of rare topics (payouts,
            # disputes) is woken and reads the tail at every commit, hundreds a second,
            # and finds nothing (bench/README.md, "Idle followers linger too").
            self.linger.handled(self._clock(), max(0, scanned_to - before))
            self.wakeup.wait(generation, self.poll_interval_s)
            if self.wakeup.generation != generation:
                self._linger(stop)

    def _after_batch(self, advanced: int, stop: threading.Event) -> None:
        # Counted here, not in `step`, which subclasses replace (the audit log's).
        self.linger.handled(self._clock(), advanced)
        if advanced < self.batch_size:  # not a full batch: no backlog, so the commits
            self._linger(stop)  # made while it was handled can wait for their neighbours

    def _linger(self, stop: threading.Event) -> None:
        delay = self.linger.before_reading(self._clock())
        if delay:
            stop.wait(delay)  # let that moment's commits make one batch

    def step(self, scanned_to: int) -> tuple[int, bool]:
        """Handle the next batch after `scanned_to`. Returns the new scan position and
        whether there was anything to handle."""
        found = self.store.tail.select(
            after=scanned_to, limit=self.batch_size, topics=self.handler.topics, seen=self._seen
        )
        batch, head = found if found is not None else self._select(scanned_to)
        if not batch:
            # Nothing of interest up to `head`: remember that in memory, so we do not
            # scan those rows again. Commits happen in id order (eventsourcing locks
            # the table to insert), so no earlier id can still appear.
            return self._record_idle(max(head, scanned_to)), False
        last_id = batch[-1][0]
        batch = self._without_copied(batch, scanned_to, last_id)
        if not batch:  # all copied from another cell: recorded at once, not as idle,
            # since a move of that merchant onward waits for this follower to be past
            # its events (cell_move._at_rest). A write only when a batch was all skipped.
            return self._record(last_id), True
        try:
            events = [event for _, event in batch]
            self.handler.handle_batch(events, Tracking(self.handler.name, last_id))
        except ConcurrencyConflict:
            # Another writer changed an aggregate (or another copy of this follower
            # advanced): nothing was applied; re-read the position and try again.
            self._recorded = None
            return self.handler.position(), True
        self._recorded = last_id
        return last_id, True

    def _without_copied(
        self, batch: list[tuple[int, Event]], after: int, upto: int
    ) -> list[tuple[int, Event]]:
        """`batch` less the events copied in by a merchant's move. The ranges commit
        with the copied events, so any range within (after, upto] is visible now."""
        if self.skip_copied is None:
            return batch
        ranges = self.skip_copied.between(after, upto)
        if not ranges:
            return batch
        return [(n, e) for n, e in batch if not any(lo <= n <= hi for lo, hi in ranges)]

    def _record_idle(self, scanned_to: int) -> int:
        """Now and then record how far a follower with nothing to do has scanned (an
        empty batch: its tracking position alone). Else a read model whose events are
        rare keeps a position far behind the head, and every lag count of it (metrics,
        `projections status`) scans the log from there: 5 ms a count at 30k events,
        ever growing (bench/README.md)."""
        if self._recorded is None:
            self._recorded = self.handler.position()
        if scanned_to - self._recorded < self.record_idle_every:
            return scanned_to
        return self._record(scanned_to)

    def _record(self, scanned_to: int) -> int:
        """Record `scanned_to` as the handler's position, with no events."""
        try:
            self.handler.handle_batch([], Tracking(self.handler.name, scanned_to))
        except ConcurrencyConflict:  # another copy of this follower moved it: read anew
            self._recorded = None
            return self.handler.position()
        self._recorded = scanned_to
        return scanned_to

    def _select(self, scanned_to: int) -> tuple[list[tuple[int, Event]], int]:
        """The next batch from the database (behind the tail), and the head it read to."""
        head = self.store.head()
        if head <= scanned_to:
            return [], scanned_to
        batch = self.store.select(
            after=scanned_to, limit=self.batch_size, topics=self.handler.topics
        )
        return [(number, event) for number, event in batch if number <= head], head

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


def _recordings(
    events: Sequence[DomainEventProtocol[UUID]], stored: Sequence[StoredEvent], ids: Sequence[int]
) -> list[Recording[UUID]]:
    return [
        Recording(event, _notification(row, notification_id))
        for event, row, notification_id in zip(events, stored, ids, strict=True)
    ]
