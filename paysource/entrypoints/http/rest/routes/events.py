"""The event feed, and every object's own history.

`GET /v1/events` pages the `events` read model by log position: a merchant key sees
its own merchant's events, named by id (`starting_after=evt_…`) and without their
positions (application/feed.py says why); auditor and admin keys see every merchant's,
and page by position or id. Each object
kind has `GET /v1/{objects}/{id}/events`, read from the event store (read-your-writes)
after `get_owned`'s rule: another merchant's object is not found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from paysource.application import feed
from paysource.application import representations as rep
from paysource.application.erased_history import shown_history
from paysource.application.errors import NotFound
from paysource.application.fastpath import Answer
from paysource.application.ids import Kind, decode
from paysource.bootstrap import Cell
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.api_key import Role
from paysource.domain.customer import Customer
from paysource.domain.merchant import Merchant
from paysource.domain.refund import Refund
from paysource.domain.settlement import Settlement
from paysource.domain.webhook_endpoint import WebhookEndpoint
from paysource.entrypoints.http.rest.deps import AnyCall, Call
from paysource.entrypoints.http.rest.moments import Moment
from paysource.entrypoints.http.rest.routes.common import listing, respond
from paysource.entrypoints.http.rest.schemas import EventList, FeedList
from paysource.readmodels.events.queries import FeedFilter
from paysource.readmodels.reader import get_owned, merchant_of
from paysource.readmodels.sql import MAX_PAGE

router = APIRouter(prefix="/v1", tags=["events"])

TypeParam = Annotated[
    list[str] | None,
    Query(alias="type", max_length=20, description="Only these types, e.g. Payment.Captured"),
]


def feed_scope(call: Call) -> UUID | None:
    """A merchant key's own merchant; None (every merchant) for auditors and admins."""
    principal = call.principal
    if principal.merchant_id is not None:
        return principal.merchant_id
    principal.require(Role.AUDITOR, Role.ADMIN)
    return None


def feed_cell(call: Call, merchant_id: UUID | None) -> Cell:
    # Positions are a cell's own: staff read the directory cell's log (today the only
    # cell); a feed spanning cells would need a cursor per cell.
    router = call.container.router
    return router.directory if merchant_id is None else router.for_merchant(merchant_id)


@router.get(
    "/events",
    response_model=FeedList,
    summary="Every event of the caller's objects, oldest first, by log position",
)
def list_events(
    call: AnyCall,
    *,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
    starting_after: Annotated[
        str | None,
        Query(
            max_length=100,
            description="the `id` of the last event of a page; auditor and admin keys"
            " may pass its `position` instead",
        ),
    ] = None,
    types: TypeParam = None,
    object: Annotated[str | None, Query(max_length=100)] = None,  # noqa: A002  # the API name
    since: Annotated[Moment | None, Query(description="occurred at or after (RFC 3339)")] = None,
    until: Annotated[Moment | None, Query(description="occurred at or before (RFC 3339)")] = None,
) -> JSONResponse:
    merchant_id = feed_scope(call)
    cell = feed_cell(call, merchant_id)
    where = FeedFilter(
        merchant_id=merchant_id,
        after=_after(cell, merchant_id, starting_after),
        types=tuple(types or ()),
        object_id=None if object is None else feed.object_id(object),
        since=since,
        until=until,
    )
    page = cell.read.events.page(where, limit=limit)
    data = [feed.feed_event(row) for row in page.rows]
    if merchant_id is not None:
        data = [feed.merchant_view(event) for event in data]
    return respond(Answer(200, listing(data, has_more=page.has_more)))


def _after(cell: Cell, merchant_id: UUID | None, starting_after: str | None) -> int:
    """The position a page starts after; another merchant's event is not found."""
    if starting_after is None:
        return 0
    cursor = feed.event_cursor(starting_after, staff=merchant_id is None)
    if isinstance(cursor, int):
        return cursor
    position = cell.read.events.position_of(cursor, merchant_id)
    if position is None:
        raise NotFound("no such event")
    return position


def _history(
    call: Call, noun: str, uuid: UUID, aggregate: type[PaysourceAggregate]
) -> JSONResponse:
    def lookup_in(cell: Cell) -> Callable[[UUID], Any]:
        return lambda object_id: cell.store.get(object_id, aggregate, version=1)

    # Its first event says whose it is (a merchant is its own); then the whole
    # history, from the same cell.
    owner = "id" if aggregate is Merchant else "merchant_id"
    lookups = [lookup_in(cell) for cell in call.cells]
    first = get_owned(noun, uuid, call.principal.merchant_id, lookups, owner=owner)
    cell = call.container.router.for_merchant(merchant_of(first, owner))
    # As it may be shown now: an erased customer's events show its personal data erased.
    events = shown_history(cell.store, uuid)
    return respond(Answer(200, listing([rep.event(e) for e in events], has_more=False)))


def _object_history(
    kind: Kind, noun: str, aggregate: type[PaysourceAggregate]
) -> Callable[[str, Call], JSONResponse]:
    def history(object_id: str, call: AnyCall) -> JSONResponse:
        return _history(call, noun, decode(kind, object_id), aggregate)

    return history


# Payments have theirs in routes/payments.py (the first of these).
for _path, _kind, _noun, _aggregate in (
    ("refunds", Kind.REFUND, "refund", Refund),
    ("settlements", Kind.SETTLEMENT, "settlement", Settlement),
    ("customers", Kind.CUSTOMER, "customer", Customer),
    ("webhook_endpoints", Kind.WEBHOOK_ENDPOINT, "webhook endpoint", WebhookEndpoint),
    ("merchants", Kind.MERCHANT, "merchant", Merchant),
):
    router.add_api_route(
        f"/{_path}/{{object_id}}/events",
        _object_history(_kind, _noun, _aggregate),
        methods=["GET"],
        response_model=EventList,
        summary=f"The {_noun}'s full event history: type, version, time, data, who acted",
    )
