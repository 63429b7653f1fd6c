"""The shape of a document is measured without recursion: chains and cycles of any
length cost linear time and no stack (issue 12, item 3)."""

from __future__ import annotations

import sys

import pytest
from graphql import OperationDefinitionNode, parse, validate
from strawberry.extensions import QueryDepthLimiter

from paysource.entrypoints.http.graphql.cost import MAX_COST, cost
from paysource.entrypoints.http.graphql.limits import MAX_FRAGMENT_SPREADS, shape_errors
from paysource.entrypoints.http.graphql.schema import build_schema
from paysource.entrypoints.http.graphql.shape import MAX_NESTING, shape_of


def chain(n: int, *, cycle: bool) -> str:
    fragments = [
        f"fragment F{i} on Viewer {{ role ...F{(i + 1) % n if cycle else i + 1} }}"
        for i in range(n)
    ]
    if not cycle:
        fragments.append(f"fragment F{n} on Viewer {{ role }}")
    return "query { viewer { ...F0 } } " + " ".join(fragments)


@pytest.mark.parametrize("n", [240, 5_000])
@pytest.mark.parametrize("cycle", [False, True], ids=["chain", "cycle"])
def test_chains_and_cycles_of_any_length_are_refused_without_recursion(n: int, cycle: bool) -> None:
    document = parse(chain(n, cycle=cycle), no_location=True)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # below the chain's length: a recursive walk would fail
    try:
        codes = [e.extensions["code"] for e in shape_errors(document) if e.extensions]
    finally:
        sys.setrecursionlimit(limit)
    assert codes[:2] == ["too_many_fragment_spreads", "query_too_nested"]
    assert shape_of(document).spreads >= n > MAX_FRAGMENT_SPREADS


DOCUMENTS = [
    "{ viewer { role } }",
    "query Q { viewer { ...A } } fragment A on Viewer { payments { nodes { ...B } } }"
    " fragment B on Payment { id customer { name } __typename }",
    "{ viewer { ... on Viewer { payments { nodes { id } } } } __schema { types { name } } }",
    "query A { viewer { role } } query B { viewer { merchant { id } } }",
    "{ viewer { ...X ...Y } } fragment X on Viewer { payments { nodes { ...Y } } }"
    " fragment Y on Viewer { merchant { id } }",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_depth_is_counted_as_strawberrys_depth_limiter_counted_it(text: str) -> None:
    document = parse(text)
    found: dict[str, int] = {}
    rule = QueryDepthLimiter(max_depth=100, callback=found.update).validation_rules[0]
    validate(build_schema(development=True)._schema, document, [rule])
    assert {name: t.depth for name, t in shape_of(document).operations.items()} == found


def test_aliases_count_as_if_fragments_were_inlined() -> None:
    document = parse(
        "{ viewer { ...A ...A } } fragment A on Viewer { a: role b: role ...B } "
        "fragment B on Viewer { c: role }"
    )
    assert shape_of(document).operations["anonymous"].aliases == 6


def test_the_cost_walk_is_bounded_even_if_called_on_a_deep_document() -> None:
    schema = build_schema(development=False)._schema
    nested = "... on Viewer { " * (MAX_NESTING + 5) + "role" + " }" * (MAX_NESTING + 5)
    document = parse("{ viewer { " + nested + " } }")
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    assert cost(schema, document, operation, None) == MAX_COST + 1
