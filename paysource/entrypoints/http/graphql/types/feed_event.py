"""FeedEvent: one event of the feed (`viewer.events`), from the `events` read model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from paysource.application.feed import feed_event


@strawberry.type(description="Who acted: a merchant, a staff role, or the system.")
class Actor:
    kind: str
    id: str


@strawberry.type(description="An immutable fact in the log, named by its id.")
class FeedEvent:
    id: strawberry.ID = strawberry.field(description="`evt_…`, as its webhook's.")
    position: int | None = strawberry.field(
        description="In the log; the feed's order. Null for merchants: the gaps between"
        " positions would count other merchants' events."
    )
    type: str
    object_kind: str
    object_id: strawberry.ID
    version: int = strawberry.field(description="Of its object, from 1.")
    merchant: strawberry.ID
    actor: Actor
    request_id: str | None
    traceparent: str | None = strawberry.field(description="W3C trace context.")
    time: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any], *, with_position: bool) -> FeedEvent:
        # The same shape as REST's, built by the same function.
        shown = feed_event(row)
        return cls(
            id=strawberry.ID(shown["id"]),
            position=shown["position"] if with_position else None,
            type=shown["type"],
            object_kind=shown["object_kind"],
            object_id=strawberry.ID(shown["object_id"]),
            version=shown["version"],
            merchant=strawberry.ID(shown["merchant"]),
            actor=Actor(**shown["actor"]),
            request_id=shown["request_id"],
            traceparent=shown["traceparent"],
            time=row["occurred_at"],
        )


@strawberry.type
class FeedEdge:
    cursor: str
    node: FeedEvent


@strawberry.type
class FeedPageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of the feed, oldest first; ask for the next with `after`.")
class FeedConnection:
    edges: list[FeedEdge]
    page_info: FeedPageInfo

    @strawberry.field
    def nodes(self) -> list[FeedEvent]:
        return [edge.node for edge in self.edges]
