"""Relay cursor connections over keyset pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from paysource.entrypoints.http.graphql import fields
from paysource.entrypoints.http.graphql.pagination import encode_cursor
from paysource.readmodels.sql import Keyset

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a newest-first list; ask for the next with `after`.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @fields.field("The edges' nodes, when cursors are not needed.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    @classmethod
    def of(
        cls,
        rows: Sequence[dict[str, Any]],
        *,
        first: int,
        after: Keyset | None,
        position: Callable[[dict[str, Any]], Keyset],
        build: Callable[[dict[str, Any]], T],
    ) -> Connection[T]:
        """`rows`: up to first + 1 rows in page order (the extra one means more)."""
        edges = [Edge(cursor=encode_cursor(position(row)), node=build(row)) for row in rows[:first]]
        info = PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )
        return cls(edges=edges, page_info=info)
