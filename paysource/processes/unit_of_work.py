"""The aggregates one batch of a process manager touches, loaded once, saved together
with the batch's tracking position (so a batch takes effect exactly once)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from paysource.application.eventlog import Event, EventStore
from paysource.domain.aggregate import PaysourceAggregate

A = TypeVar("A", bound=PaysourceAggregate)
K = TypeVar("K")
R = TypeVar("R")


class UnitOfWork:
    """The aggregates one batch touches, each loaded once and saved together.

    `preload` reads a batch's aggregates in one query before its threads start, so
    they then only read memory: no lock is held across a database round trip (the
    profile of 2026-11-24 found the acquirer threads waiting 83% of their time on one
    held across `store.get`). An aggregate nobody preloaded is loaded on first use,
    under a lock of its own.
    """

    def __init__(
        self, store: EventStore, loaded: Mapping[UUID, PaysourceAggregate] | None = None
    ) -> None:
        self._store = store
        self._loaded: dict[UUID, PaysourceAggregate | None] = dict(loaded or {})
        self._locks: dict[UUID, threading.Lock] = {}
        self._lock = threading.Lock()
        self._memo: dict[Hashable, Any] = {}

    def preload(self, aggregate_ids: Iterable[UUID]) -> None:
        missing = [i for i in dict.fromkeys(aggregate_ids) if i not in self._loaded]
        found = self._store.get_many(missing)
        self._loaded.update({i: found.get(i) for i in missing})

    def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        found = self._loaded.get(aggregate_id)
        if aggregate_id not in self._loaded:
            with self._lock:
                lock = self._locks.setdefault(aggregate_id, threading.Lock())
            with lock:
                if aggregate_id not in self._loaded:
                    self._loaded[aggregate_id] = self._store.get(aggregate_id, PaysourceAggregate)
                found = self._loaded[aggregate_id]
        return found if isinstance(found, kind) else None

    def remember(self, key: Hashable, compute: Callable[[K], R], argument: K) -> R:
        """`compute(argument)` once per batch (a read every lane of it needs alike)."""
        if key not in self._memo:
            self._memo[key] = compute(argument)  # two lanes may both compute: harmless
        found: R = self._memo[key]
        return found

    def version(self, aggregate_id: UUID) -> int | None:
        found = self._loaded.get(aggregate_id)
        return None if found is None else found.version

    def collect(self, aggregate_ids: Iterable[UUID]) -> list[Event]:
        """The new events of these aggregates (taken: a second call returns none)."""
        events: list[Event] = []
        for aggregate_id in aggregate_ids:
            found = self._loaded.get(aggregate_id)
            if found is not None:
                events.extend(found.collect_events())
        return events

    def aggregates(self) -> list[PaysourceAggregate]:
        return [aggregate for aggregate in self._loaded.values() if aggregate is not None]
