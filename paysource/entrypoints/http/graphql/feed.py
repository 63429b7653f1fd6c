"""`viewer.events`: the event feed, as REST's `GET /v1/events`, in a connection.

Cursors are log positions (opaque to clients). A merchant sees its own merchant's
events; auditors and admins every merchant's; customer tokens and finance keys none.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError

from paysource.application.errors import NotFound
from paysource.application.feed import object_id
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
from paysource.readmodels.events.queries import FeedFilter, feed_page

_VERSION = "e1"
_STAFF = (Role.AUDITOR, Role.ADMIN)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_VERSION}|{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, position = raw.split("|")
        # Positions are Postgres bigints: a larger one would fail in SQL, not here.
        if version != _VERSION or not position.isdigit() or int(position) >= 2**63:
            raise ValueError(raw)
        return int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise GraphQLError(
            "`after` is not a cursor from this API", extensions={"code": "invalid_cursor"}
        ) from None


def sees_feed(access: Access) -> bool:
    if access.customer_id is not None:
        return False
    return access.merchant_id is not None or access.principal.role in _STAFF


def connection(rows: Sequence[dict[str, Any]], first: int) -> FeedConnection:
    edges = [
        FeedEdge(cursor=encode_cursor(row["position"]), node=FeedEvent.from_row(row))
        for row in rows[:first]
    ]
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
    size, start = page_size(first), decode_cursor(after)
    if not sees_feed(reads.access):
        return connection([], size)
    try:
        wanted = None if object is None else object_id(object)
    except NotFound:
        return connection([], size)  # an id we do not know has no events
    where = FeedFilter(
        merchant_id=reads.access.merchant_id,
        after=start,
        types=tuple(types or ()),
        object_id=wanted,
    )
    # Positions are a cell's own; the caller's cells are one today (see rest/routes/events).
    rows = await reads.reader.everywhere(feed_page(where, limit=size))
    return connection(sorted(rows, key=lambda row: row["position"]), size)
