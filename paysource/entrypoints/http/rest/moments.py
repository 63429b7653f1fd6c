"""Moments in query strings (`as_of`, `since`, `until`): RFC 3339 with an offset.

pydantic alone would also take a Unix timestamp or a time without a zone, which
means a different moment on each server; a bad value is a 422 validation_error
(entrypoints/times.py, shared with GraphQL's DateTime and the CLI).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BeforeValidator

from paysource.application.as_of import load_as_of
from paysource.bootstrap import Cell
from paysource.domain.aggregate import PaysourceAggregate
from paysource.entrypoints.times import parse_moment

A = TypeVar("A", bound=PaysourceAggregate)

Moment = Annotated[datetime, BeforeValidator(parse_moment)]
AsOf = Annotated[
    Moment | None,
    Query(description="Show the object as it was at this moment (RFC 3339)"),
]


def loader(
    moment: datetime | None, aggregate: type[A], latest: Callable[[Cell, UUID], A]
) -> Callable[[Cell, UUID], A]:
    """How a single-object read loads its object: the latest state, or (`as_of`) the
    state its events up to `moment` left — NotFound if it did not exist yet."""
    if moment is None:
        return latest
    return lambda cell, uuid: load_as_of(cell.store, uuid, aggregate, moment)
