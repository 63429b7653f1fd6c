"""Admin: merchants and API keys."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from paysource.application import representations as rep
from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.ids import Kind, decode, encode
from paysource.application.merchants import fee_schedule
from paysource.bootstrap import Container
from paysource.domain.api_key import Role
from paysource.domain.fees import FeeSchedule
from paysource.entrypoints.http.inputs import ApiKeyIn, Body, FeesIn, MerchantIn
from paysource.entrypoints.http.problems import Problem
from paysource.entrypoints.http.rest.deps import AdminPrincipal, ContainerDep, Context
from paysource.entrypoints.http.rest.routes.common import respond
from paysource.entrypoints.http.rest.schemas import ApiKeyOut, MerchantOut

router = APIRouter(prefix="/v1", tags=["merchants"])


@router.post(
    "/merchants",
    status_code=201,
    response_model=MerchantOut,
    summary="Register a merchant and mint its first API key (admin)",
    description="The API key is shown once. A replay with the same Idempotency-Key "
    "returns the merchant with `api_key: null`: the key was never stored.",
)
def create_merchant(
    body: MerchantIn, admin: AdminPrincipal, container: ContainerDep, context: Context
) -> JSONResponse:
    outcome, api_key = container.merchants.register_merchant(
        name=body.name,
        email=body.email,
        settlement_currency=body.settlement_currency,
        fees=fee_schedule(
            basis_points=body.fee_basis_points,
            settlement_currency=body.settlement_currency,
            fixed_minor=body.fee_fixed_minor,
            fixed=body.fee_fixed,
        ),
        idempotency_key=context.idempotency_key,
        request_hash=fingerprint("POST", "/v1/merchants", body.fingerprint_body()),
        meta=context.meta(admin, container),
        cell=body.cell,
    )
    answer = Answer(201, rep.merchant(outcome.value, api_key=api_key), outcome.replayed)
    return respond(answer)


@router.post(
    "/api_keys",
    status_code=201,
    response_model=ApiKeyOut,
    summary="Mint an API key: a merchant's, or a read-only finance or auditor key (admin)",
    description="The key (`api_key`) is shown once. A replay with the same "
    "Idempotency-Key returns the same key's object with `api_key: null`: only its "
    "digest was stored. Another body with that key is 422 `idempotency_key_reused`.",
)
def create_api_key(
    body: ApiKeyIn, admin: AdminPrincipal, container: ContainerDep, context: Context
) -> JSONResponse:
    role = Role(body.role)
    if (role is Role.MERCHANT) != (body.merchant is not None):
        raise Problem(
            422,
            "validation_error",
            "`merchant` is required for a merchant key and not allowed for other roles",
            errors=[{"field": "merchant", "message": "required exactly for role=merchant"}],
        )
    merchant_id = decode(Kind.MERCHANT, body.merchant) if body.merchant else None
    outcome, secret = container.merchants.issue_api_key(
        role=role,
        merchant_id=merchant_id,
        label=body.label,
        idempotency_key=context.idempotency_key,
        request_hash=fingerprint("POST", "/v1/api_keys", body.fingerprint_body()),
        meta=context.meta(admin, container),
    )
    key = outcome.value  # as the mint left it (a replay too, though revoked since)
    shown = rep.api_key(key.id, key.role, key.merchant_id, secret=secret, revoked=key.revoked)
    return respond(Answer(201, shown, outcome.replayed))


@router.delete(
    "/api_keys/{key_id}",
    response_model=ApiKeyOut,
    summary="Revoke an API key (admin); other processes stop accepting it within 30 s",
)
def revoke_api_key(
    key_id: str, admin: AdminPrincipal, container: ContainerDep, context: Context
) -> JSONResponse:
    api_key = container.merchants.revoke_api_key(
        key_id=decode(Kind.API_KEY, key_id), meta=context.meta(admin, container)
    )
    body = rep.api_key(api_key.id, api_key.role, api_key.merchant_id, revoked=api_key.revoked)
    return respond(Answer(200, body))


class RateLimitIn(Body):
    # None: back to the default (PAYSOURCE_RATE_LIMIT_PER_S). The domain checks the range.
    rate_limit_per_s: int | None


class RateLimitOut(BaseModel):
    object: Literal["rate_limit"]
    merchant: str
    rate_limit_per_s: int
    default: bool


def _rate_limit_body(container: Container, merchant_id: UUID, own: int | None) -> dict[str, Any]:
    default = container.settings.rate_limit_per_s
    return {
        "object": "rate_limit",
        "merchant": encode(Kind.MERCHANT, merchant_id),
        "rate_limit_per_s": default if own is None else own,
        "default": own is None,
    }


@router.put(
    "/merchants/{merchant_id}/rate_limit",
    response_model=RateLimitOut,
    summary="Set a merchant's requests per second, shared by all its keys (admin)",
    description='`{"rate_limit_per_s": null}` returns the merchant to the default. '
    "Applies at once in this process and within 30 s in the others.",
)
def set_rate_limit(
    merchant_id: str,
    body: RateLimitIn,
    admin: AdminPrincipal,
    container: ContainerDep,
    context: Context,
) -> JSONResponse:
    merchant = container.rate_limits.set_limit(
        merchant_id=decode(Kind.MERCHANT, merchant_id),
        per_s=body.rate_limit_per_s,
        meta=context.meta(admin, container),
    )
    own = merchant.rate_limit_per_s
    return respond(Answer(200, _rate_limit_body(container, merchant.id, own)))


@router.get(
    "/merchants/{merchant_id}/rate_limit",
    response_model=RateLimitOut,
    summary="A merchant's requests per second (admin)",
)
def get_rate_limit(
    merchant_id: str, admin: AdminPrincipal, container: ContainerDep
) -> JSONResponse:
    merchant = container.merchants.get_merchant(decode(Kind.MERCHANT, merchant_id))
    own = merchant.rate_limit_per_s
    return respond(Answer(200, _rate_limit_body(container, merchant.id, own)))


@router.put(
    "/merchants/{merchant_id}/fees",
    response_model=MerchantOut,
    summary="Replace a merchant's fee schedule (admin)",
    description="Basis points, and the merchant's own fixed fee per currency in that "
    "currency's minor units; a currency left out takes the platform's default. "
    "Captures already made keep the fee they recorded.",
)
def set_fees(
    merchant_id: str, body: FeesIn, admin: AdminPrincipal, container: ContainerDep, context: Context
) -> JSONResponse:
    merchant = container.merchants.change_fees(
        merchant_id=decode(Kind.MERCHANT, merchant_id),
        fees=FeeSchedule(body.fee_basis_points, body.fee_fixed),
        meta=context.meta(admin, container),
    )
    return respond(Answer(200, rep.merchant(merchant)))
