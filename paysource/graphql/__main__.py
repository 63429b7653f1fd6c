"""`python -m paysource.graphql > docs/schema.graphql` exports the schema's SDL."""

from __future__ import annotations

from paysource.graphql.schema import sdl

print(sdl(), end="")
