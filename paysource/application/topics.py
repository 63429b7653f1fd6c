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
