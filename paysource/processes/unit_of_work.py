"""The aggregates one batch of a process manager touches, loaded once, saved together
with the batch's tracking position (so a batch takes effect exactly once)."""

from __future__ import annotations

import threading
from typing import TypeVar
from uuid import UUID

from paysource.application.eventlog import EventStore
from paysource.domain.aggregate import PaysourceAggregate

A = TypeVar("A", bound=PaysourceAggregate)


class UnitOfWork:
    """The aggregates one batch touches, each loaded once and saved together."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._loaded: dict[UUID, PaysourceAggregate | None] = {}
        self._locks: dict[UUID, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        # One lock per aggregate, not one for all: a load is a database round trip,
        # and the threads of a batch (different payments) must not queue behind it.
        with self._lock:
            lock = self._locks.setdefault(aggregate_id, threading.Lock())
        with lock:
            if aggregate_id not in self._loaded:
                self._loaded[aggregate_id] = self._store.get(aggregate_id, kind)
            found = self._loaded[aggregate_id]
        return found if isinstance(found, kind) else None

    def aggregates(self) -> list[PaysourceAggregate]:
        return [aggregate for aggregate in self._loaded.values() if aggregate is not None]
