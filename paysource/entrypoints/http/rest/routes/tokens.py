"""Tokens: a merchant's backend mints a short-lived JWT for its frontend (GraphQL).

Only an API key of the merchant role mints; a token cannot mint another. With
`customer`, the token sees that one customer and changes nothing.

Minting is not keyed: an `Idempotency-Key` is refused (400), not ignored. A replay
would have to store the token, a bearer credential; each call mints a new one instead,
which expires on its own (docs/decisions.md, "Minting a token refuses Idempotency-Key").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from paysource.application.fastpath import Answer
from paysource.application.ids import Kind, decode, encode_optional
from paysource.application.representations import timestamp
from paysource.application.tokens import DEFAULT_TTL_S, MAX_TTL_S, MIN_TTL_S
from paysource.entrypoints.http.inputs import Body, ExternalId
from paysource.entrypoints.http.problems import Problem
from paysource.entrypoints.http.rest.deps import MerchantCallDep
from paysource.entrypoints.http.rest.routes.common import respond

router = APIRouter(prefix="/v1", tags=["tokens"])


class TokenIn(Body):
    customer: ExternalId | None = None
    ttl_s: Annotated[int, Field(ge=MIN_TTL_S, le=MAX_TTL_S, strict=True)] = DEFAULT_TTL_S


class TokenOut(BaseModel):
    object: str
    token: str
    expires_at: str
    customer: str | None


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenOut,
    summary="Mint a short-lived token for a frontend (GraphQL `Authorization: Bearer`)",
    description="HS256 JWT, valid `ttl_s` seconds (60 to 3600, default 900). With "
    "`customer`, the token reads only that customer's objects and cannot change anything. "
    "Not keyed: an `Idempotency-Key` is 400 `idempotency_key_not_supported`; a retry "
    "mints a new token, and a token whose answer was lost expires on its own.",
)
def create_token(body: TokenIn, call: MerchantCallDep) -> JSONResponse:
    if call.context.idempotency_key is not None:
        raise Problem(
            400,
            "idempotency_key_not_supported",
            "minting a token is not keyed, so a replay cannot answer the same token (it is "
            "never stored): send no Idempotency-Key; each call mints a new token, and one "
            "whose answer was lost expires on its own after its ttl_s",
        )
    customer_id = decode(Kind.CUSTOMER, body.customer) if body.customer else None
    if customer_id is not None:
        # Another merchant's customer is not found, exactly like an unknown one.
        call.cell.customers.get_customer(merchant_id=call.merchant_id, customer_id=customer_id)
    minted = call.container.tokens.mint(
        merchant_id=call.merchant_id,
        key_id=call.principal.key_id,
        customer_id=customer_id,
        ttl_s=body.ttl_s,
    )
    answer = {
        "object": "token",
        "token": minted.token,
        "expires_at": timestamp(minted.expires_at),
        "customer": encode_optional(Kind.CUSTOMER, customer_id),
    }
    return respond(Answer(201, answer))
