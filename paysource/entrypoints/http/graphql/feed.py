"""`viewer.events`: the event feed, as REST's `GET /v1/events`, in a connection.

A merchant sees its own merchant's events; auditors and admins every merchant's;
customer tokens and finance keys none. A merchant's cursors are its events' ids
(`evt_…`, as REST's `starting_after`) and its nodes have no `position`: positions would
count other merchants' events (application/feed.py). Staff cursors are log positions
(opaque to clients); staff may also pass an event's id.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError

from paysource.application.errors import NotFound
from paysource.application.feed import MAX_POSITION, object_id
from paysource.application.ids import Kind, decode
from paysource.domain.api_key import Role
from paysource.entrypoints.http.graphql.pagination import page_size
from paysource.entrypoints.http.graphql.policy import Access
from paysource.entrypoints.http.graphql.reads import Reads
from paysource.entrypoints.http.graphql.types.feed_event import (
    FeedConnection,
    FeedEdge,
    FeedEvent,
    FeedPageInfo,
)
from paysource.readmodels.events.queries import FeedFilter, event_position, feed_page

_VERSION = "e1"
_STAFF = (Role.AUDITOR, Role.ADMIN)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_VERSION}|{position}".encode()).decode().rstrip("=")


def _invalid() -> GraphQLError:
    return GraphQLError(
        "`after` is not a cursor from this API", extensions={"code": "invalid_cursor"}
    )


def decode_cursor(cursor: str | None) -> int:
    """A staff cursor's position."""
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, position = raw.split("|")
        # Positions are Postgres bigints: a larger one would fail in SQL, not here.
        if version != _VERSION or not position.isdigit() or int(position) > MAX_POSITION:
            raise ValueError(raw)
        return int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid() from None


async def start_after(reads: Reads, cursor: str | None) -> int:
    """The position a page starts after. A merchant's cursor must be one of its own
    events' ids: were a position read, it could binary-search its events' positions."""
    merchant_id = reads.access.merchant_id
    if cursor is None or not cursor.startswith(f"{Kind.EVENT}_"):
        if merchant_id is not None and cursor is not None:
            raise _invalid()
        return decode_cursor(cursor)
    try:
        event_id = decode(Kind.EVENT, cursor)
    except NotFound:
        raise _invalid() from None
    found = await reads.reader.everywhere(event_position(event_id, merchant_id))
    if not found:
        raise _invalid()  # unknown, or another merchant's: the same answer
    return int(found[0]["position"])


def sees_feed(access: Access) -> bool:
    if access.customer_id is not None:
        return False
    return access.merchant_id is not None or access.principal.role in _STAFF


def _edge(row: dict[str, Any], *, staff: bool) -> FeedEdge:
    node = FeedEvent.from_row(row, with_position=staff)
    return FeedEdge(cursor=encode_cursor(row["position"]) if staff else node.id, node=node)


def connection(rows: Sequence[dict[str, Any]], first: int, *, staff: bool) -> FeedConnection:
    edges = [_edge(row, staff=staff) for row in rows[:first]]
    end = edges[-1].cursor if edges else None
    return FeedConnection(
        edges=edges, page_info=FeedPageInfo(has_next_page=len(rows) > first, end_cursor=end)
    )


async def events(
    reads: Reads,
    *,
    first: int,
    after: str | None,
    types: list[str] | None,
    object: str | None,  # noqa: A002
) -> FeedConnection:
    size, staff = page_size(first), reads.access.merchant_id is None
    if not sees_feed(reads.access):
        return connection([], size, staff=staff)
    start = await start_after(reads, after)
    try:
        wanted = None if object is None else object_id(object)
    except NotFound:
        return connection([], size, staff=staff)  # an id we do not know has no events
    where = FeedFilter(
        merchant_id=reads.access.merchant_id,
        after=start,
        types=tuple(types or ()),
        object_id=wanted,
    )
    # Positions are a cell's own; the caller's cells are one today (see rest/routes/events).
    rows = await reads.reader.everywhere(feed_page(where, limit=size))
    return connection(sorted(rows, key=lambda row: row["position"]), size, staff=staff)
