"""The SDL in docs/schema.graphql is the schema the code serves."""

from __future__ import annotations

from paysource.entrypoints.http.graphql.schema import SDL_PATH, sdl


def test_docs_schema_graphql_matches_the_code() -> None:
    expected = sdl()
    assert SDL_PATH.read_text() == expected, (
        "docs/schema.graphql is stale: "
        "python -m paysource.entrypoints.http.graphql > docs/schema.graphql"
    )
