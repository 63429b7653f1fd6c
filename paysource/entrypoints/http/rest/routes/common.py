"""Helpers shared by routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from fastapi.responses import JSONResponse

from paysource.application.errors import NotFound
from paysource.application.fastpath import Answer
from paysource.application.ids import Kind, decode
from paysource.bootstrap import Cell
from paysource.domain.api_key import Role
from paysource.entrypoints.http.rest.deps import Call
from paysource.readmodels.reader import Reader, get_owned
from paysource.readmodels.sql import Scope

T = TypeVar("T")

REPLAYED_HEADER = "Idempotent-Replayed"


class _Encoded(JSONResponse):
    """A JSONResponse of a body encoded already (`Answer.encoded`): sent as it is."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


def respond(answer: Answer, *, headers: dict[str, str] | None = None) -> JSONResponse:
    all_headers = dict(headers or {})
    if answer.replayed:
        all_headers[REPLAYED_HEADER] = "true"
    if answer.encoded is not None:  # encoded once already, for Redis: the same bytes
        return _Encoded(answer.encoded, status_code=answer.status, headers=all_headers)
    return JSONResponse(answer.body, status_code=answer.status, headers=all_headers)


def owned(call: Call, kind: str, uuid: UUID, load: Callable[[Cell, UUID], T]) -> T:
    """The object of `kind` from the event store (its latest committed state), if the
    caller's merchant owns it: `get_owned`'s rule, the one of every read path. `load`
    reads it without an owner (staff style) and raises NotFound when it is absent."""

    cells = call.cells

    def lookup_in(cell: Cell) -> Callable[[UUID], T | None]:
        def lookup(object_id: UUID) -> T | None:
            try:
                found = load(cell, object_id)
            except NotFound:
                return None
            return found if len(cells) == 1 or _lives_in(call, cell, found) else None

        return lookup

    lookups = [lookup_in(cell) for cell in cells]
    return get_owned(kind, uuid, call.principal.merchant_id, lookups)


def _lives_in(call: Call, cell: Cell, found: object) -> bool:
    """Whether `found` is read from its merchant's cell now: a merchant moved to another
    cell leaves its events in the old one as history (docs/operations.md), and a staff
    read across cells must not answer with that old state."""
    merchant_id = getattr(found, "merchant_id", None)
    if not isinstance(merchant_id, UUID):
        return True
    return call.container.router.for_merchant(merchant_id).name == cell.name


def reader(call: Call, merchant_id: UUID | None) -> Reader:
    """The request's reads of the read models, for `merchant_id` (None: every
    merchant's, for staff), across the cells that hold them."""
    return Reader(call.container.router, Scope(merchant_id))


def listing(data: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more}


def merchant_scope(call: Call, merchant: str | None) -> UUID | None:
    """Whose data: a merchant key's own (another's id is unknown), or, for staff, the
    merchant asked for, or None for all."""
    principal = call.principal
    if principal.merchant_id is not None:
        if merchant is not None and decode(Kind.MERCHANT, merchant) != principal.merchant_id:
            raise NotFound("no such merchant")
        return principal.merchant_id
    principal.require(Role.FINANCE, Role.AUDITOR, Role.ADMIN)
    return decode(Kind.MERCHANT, merchant) if merchant is not None else None
