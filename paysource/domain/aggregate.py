"""The base of paysource aggregates: every event carries the command's `Meta`."""

from __future__ import annotations

from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import Aggregate

from paysource.domain.meta import Meta


class PaysourceAggregate(Aggregate):
    class Event(Aggregate.Event):
        meta: dict[str, str]

    class Created(Event, Aggregate.Created):
        pass

    @classmethod
    def _open(
        cls, event_class: type[Created], *, aggregate_id: UUID, meta: Meta, **fields: Any
    ) -> Self:
        """Record the creating event with the command's metadata and time."""
        return cls._create(
            event_class, id=aggregate_id, timestamp=meta.at, meta=meta.as_event_meta(), **fields
        )

    def _record(self, event_class: type[Event], meta: Meta, **fields: Any) -> None:
        """Record (and apply) an event with the command's metadata and time."""
        self.trigger_event(event_class, timestamp=meta.at, meta=meta.as_event_meta(), **fields)
