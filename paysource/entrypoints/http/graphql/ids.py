"""Global ids are the REST ids; a malformed one is an id we do not know."""

from __future__ import annotations

from uuid import UUID

from paysource.application.errors import NotFound
from paysource.application.ids import Kind, decode


def parse(kind: Kind, external: str) -> UUID | None:
    try:
        return decode(kind, external)
    except NotFound:
        return None


def kind_of(external: str) -> Kind | None:
    prefix = external.partition("_")[0]
    return next((kind for kind in Kind if kind.value == prefix), None)
