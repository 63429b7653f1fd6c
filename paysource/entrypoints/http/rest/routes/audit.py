"""The tamper-evident log for auditors: public key, signed tree heads, proofs.

Auditor and admin keys only. Every answer checks with `paysource.audit_verifier`
(docs/audit.md), which needs nothing of the service.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from paysource.application.audit import AuditService
from paysource.application.auth import Principal
from paysource.application.errors import NotFound
from paysource.application.feed import MAX_POSITION
from paysource.domain.api_key import Role
from paysource.entrypoints.http.rest.deps import ContainerDep, CurrentPrincipal
from paysource.entrypoints.http.rest.routes.common import listing

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Position = Annotated[int, Query(ge=1, le=MAX_POSITION)]
CellParam = Annotated[str | None, Query(max_length=100, description="default: the first")]


async def require_auditor(principal: CurrentPrincipal) -> Principal:
    principal.require(Role.AUDITOR, Role.ADMIN)
    return principal


Auditor = Annotated[Principal, Depends(require_auditor)]


def _audit(container: ContainerDep, cell: CellParam = None) -> AuditService:
    cells = container.router.all()
    found = cells[0] if cell is None else next((c for c in cells if c.name == cell), None)
    if found is None:
        raise NotFound("no such cell")
    return found.audit


Audit = Annotated[AuditService, Depends(_audit)]


@router.get("/public_key", summary="The Ed25519 key that signs this log's tree heads")
def public_key(_: Auditor, audit: Audit) -> dict[str, Any]:
    return audit.public_key()


@router.get("/tree_heads", summary="Signed tree heads, largest first")
def tree_heads(
    _: Auditor,
    audit: Audit,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
) -> dict[str, Any]:
    heads, has_more = audit.tree_heads(before=starting_after, limit=limit)
    return listing([head.to_json() for head in heads], has_more=has_more)


@router.get("/proof/inclusion", summary="That an event is a leaf of a signed tree")
def inclusion(
    _: Auditor,
    audit: Audit,
    event: Position,
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
) -> dict[str, Any]:
    return audit.inclusion(event, tree_size)


@router.get("/proof/consistency", summary="That a later signed tree extends an earlier one")
def consistency(
    _: Auditor,
    audit: Audit,
    first: Position,
    second: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
) -> dict[str, Any]:
    return audit.consistency(first, second)
