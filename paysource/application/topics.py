"""Event topics of aggregates, for projections that follow them."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic

from paysource.domain.aggregate import PaysourceAggregate


def event_topics(*aggregates: type[PaysourceAggregate]) -> tuple[str, ...]:
    """The topic of every event class defined on `aggregates`."""
    return tuple(
        sorted(
            {
                get_topic(value)
                for aggregate in aggregates
                for value in vars(aggregate).values()
                if isinstance(value, type) and issubclass(value, CanMutateAggregate)
            }
        )
    )


def topics_of(*event_classes: type[CanMutateAggregate[Any]]) -> tuple[str, ...]:
    return tuple(sorted(get_topic(cls) for cls in event_classes))


def handled_topics(process_event: Any) -> tuple[str, ...]:
    """The topics of the events a `singledispatchmethod` has a handler for.

    Set at the end of a projection's class body, so it follows exactly the events it
    handles: a handler cannot be added without its topic, nor a topic without use."""
    registry = process_event.dispatcher.registry
    return topics_of(*(cls for cls in registry if cls is not object))
