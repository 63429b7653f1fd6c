"""`python -m paysource.entrypoints.http.graphql > docs/schema.graphql` exports the schema's SDL."""

from __future__ import annotations

from paysource.entrypoints.http.graphql.schema import sdl

print(sdl(), end="")
