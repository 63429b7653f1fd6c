"""What every list route takes: the page (`limit`, `starting_after`, `ending_before`), the
filters (`created[gte|gt|lte|lt]`, `metadata[key]`), and nothing it does not know.

An unknown query parameter is refused (400 `unknown_parameter`, naming it), never
ignored: `metadata[order]=42` on a list that cannot filter by it answered everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BeforeValidator

from paysource.application.ids import Kind, decode
from paysource.domain.card import contains_pan
from paysource.entrypoints.http.problems import Problem
from paysource.readmodels.reader import Reader
from paysource.readmodels.sql import MAX_PAGE, Filters, Window

METADATA_PARAMETER = re.compile(r"^metadata\[([A-Za-z0-9_.:-]{1,40})\]$")
MAX_METADATA_FILTERS = 10
_SHOWN_NAME_CHARS = 40

_UNIX_SECONDS = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,9})?")


def _unix_seconds(value: object) -> object:
    """A number is Unix seconds, however large: pydantic alone reads one past 2e10 as
    milliseconds, so `created[gte]=20000000001` (the year 2603) answered everything."""
    if isinstance(value, str) and _UNIX_SECONDS.fullmatch(value):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("Unix seconds out of range") from None
    return value


Time = Annotated[
    AwareDatetime | None,
    BeforeValidator(_unix_seconds),
    Query(description="ISO 8601 with a UTC offset, or Unix seconds"),
]


@dataclass(frozen=True, slots=True)
class ListParams:
    limit: int
    starting_after: str | None
    ending_before: str | None
    filters: Filters

    def window(self, reader: Reader, kind: Kind, listing: str) -> Window:
        """The page of `listing` (a read-model kind: "payment") with ids of `kind`."""
        if self.starting_after is not None and self.ending_before is not None:
            raise Problem(400, "bad_request", "send starting_after or ending_before, not both")
        return reader.window(
            listing,
            limit=self.limit,
            starting_after=decode(kind, self.starting_after) if self.starting_after else None,
            ending_before=decode(kind, self.ending_before) if self.ending_before else None,
            filters=self.filters,
        )


async def list_params(
    *,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
    starting_after: Annotated[str | None, Query(max_length=100)] = None,
    ending_before: Annotated[str | None, Query(max_length=100)] = None,
    created_gte: Annotated[Time, Query(alias="created[gte]")] = None,
    created_gt: Annotated[Time, Query(alias="created[gt]")] = None,
    created_lte: Annotated[Time, Query(alias="created[lte]")] = None,
    created_lt: Annotated[Time, Query(alias="created[lt]")] = None,
) -> ListParams:
    filters = Filters(created_gte, created_gt, created_lte, created_lt)
    return ListParams(limit, starting_after, ending_before, filters)


async def metadata_filters(request: Request) -> tuple[tuple[str, str], ...]:
    """`metadata[key]=value` pairs: objects whose metadata holds every one of them."""
    pairs = []
    for name, value in request.query_params.multi_items():
        if (match := METADATA_PARAMETER.match(name)) is not None:
            if len(value) > 500:
                # The key is the client's text too: `metadata[4111…]` is a card number.
                detail = f"{_shown(name)} is longer than 500 characters"
                raise Problem(400, "bad_request", detail)
            pairs.append((match.group(1), value))
    if len(pairs) > MAX_METADATA_FILTERS:
        raise Problem(400, "bad_request", f"at most {MAX_METADATA_FILTERS} metadata filters")
    return tuple(pairs)


# Lets `reject_unknown` accept `metadata[…]` on the routes that depend on it.
metadata_filters.accepts = METADATA_PARAMETER  # type: ignore[attr-defined]


async def with_metadata(
    params: Annotated[ListParams, Depends(list_params)],
    metadata: Annotated[tuple[tuple[str, str], ...], Depends(metadata_filters)],
) -> ListParams:
    filters = Filters(
        params.filters.created_gte,
        params.filters.created_gt,
        params.filters.created_lte,
        params.filters.created_lt,
        metadata,
    )
    return ListParams(params.limit, params.starting_after, params.ending_before, filters)


Listed = Annotated[ListParams, Depends(list_params)]
ListedWithMetadata = Annotated[ListParams, Depends(with_metadata)]


async def reject_unknown(request: Request) -> None:
    """400 for query parameters the matched route does not take."""
    if not request.scope.get("query_string"):  # most requests: no QueryParams to build
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known, patterns = _accepted(route.dependant)
    unknown = [
        name
        for name in dict.fromkeys(request.query_params.keys())
        if name not in known and not any(p.match(name) for p in patterns)
    ]
    if unknown:
        shown = ", ".join(_shown(name) for name in unknown)
        raise Problem(
            400,
            "unknown_parameter",
            f"unknown query parameter(s): {shown}; see /docs for what this route takes",
            parameters=[_shown(name) for name in unknown],
        )


def _accepted(dependant: Dependant) -> tuple[set[str], list[re.Pattern[str]]]:
    names = {param.alias for param in dependant.query_params}
    patterns = [p for p in [getattr(dependant.call, "accepts", None)] if p is not None]
    for sub in dependant.dependencies:
        sub_names, sub_patterns = _accepted(sub)
        names |= sub_names
        patterns += sub_patterns
    return names, patterns


def _shown(name: str) -> str:
    # A parameter's name is the client's text: never echo a card number, nor a novel.
    if contains_pan(name):
        return "(a name that looks like a card number)"
    return name[:_SHOWN_NAME_CHARS]
