"""The event store of one cell: every aggregate's events in one append-only log.

A thin layer over an `eventsourcing` Application: typed loads, one atomic save of
several aggregates (optionally with a tracking position), and infrastructure
errors translated into the application's error tree at this boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    PersistenceError,
    ProcessRecorder,
    Recording,
    Tracking,
)

from paysource.application.errors import Unavailable
from paysource.domain.aggregate import PaysourceAggregate

log = logging.getLogger(__name__)

A = TypeVar("A", bound=PaysourceAggregate)

LOG_NAME = "paysource"


class ConcurrencyConflict(Exception):  # a signal to retry, not a failure
    """Another writer got there first (an aggregate version, a claim, a tracking row)."""


class _EventLog(Application[UUID]):
    name = LOG_NAME

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder can store a tracking position with the events, which the
        # workers need; it is a plain application recorder otherwise.
        return self.factory.process_recorder()


class EventStore:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._app = _EventLog(env=dict(env))

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
            aggregate: object = self._app.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            return None
        except PersistenceError as error:
            raise _unavailable(error) from None
        return aggregate if isinstance(aggregate, kind) else None

    def history(
        self, aggregate_id: UUID, *, limit: int | None = None
    ) -> list[DomainEventProtocol[UUID]]:
        try:
            return list(self._app.events.get(aggregate_id, limit=limit))
        except PersistenceError as error:
            raise _unavailable(error) from None

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
        if not events and tracking is None:
            return []
        try:
            return self._app.events.put(events, tracking=tracking)
        except IntegrityError:
            raise ConcurrencyConflict from None
        except PersistenceError as error:
            raise _unavailable(error) from None

    def head(self) -> int:
        """The id of the newest notification in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def position(self, follower_name: str) -> int:
        return self.recorder.max_tracking_id(follower_name) or 0

    def select(
        self, *, after: int, limit: int, topics: Sequence[str] = ()
    ) -> list[tuple[int, DomainEventProtocol[UUID]]]:
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )
        return [(n.id, self.decode(n)) for n in notifications]

    def close(self) -> None:
        self._app.close()


def _unavailable(error: Exception) -> Unavailable:
    # The driver's message (hosts, ports) is for our logs, not for API clients.
    log.warning("event store unavailable: %s", error)
    return Unavailable("the event store is unavailable; retry shortly")
