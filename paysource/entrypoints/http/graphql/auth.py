"""Who is calling: the same bearer API keys as REST, or a short-lived JWT.

Authentication happens once per request (on a websocket: at `connection_init`,
then again for each operation), before any resolver runs: a missing or bad
credential is a 401 problem, exactly as on REST, and the per-key rate limit is
shared with REST.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from paysource.application.auth import Principal
from paysource.application.errors import Unauthenticated
from paysource.application.tokens import TokenIssuer, looks_like_jwt
from paysource.bootstrap import Container
from paysource.domain.api_key import Role
from paysource.entrypoints.http import rate_limit
from paysource.entrypoints.http.graphql.policy import Access
from paysource.entrypoints.http.rate_limit import merchant_bucket


def bearer_credential(authorization: str | None) -> str:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("send an API key or token as 'Authorization: Bearer <credential>'")
    return credential.strip()


async def authenticate(
    container: Container, tokens: TokenIssuer, authorization: str | None, *, count: bool = True
) -> Access:
    """The caller of `authorization`, counted against the rate limit when `count`."""
    credential = bearer_credential(authorization)
    # Key lookups may read the event store and the rate limit asks Redis: blocking
    # calls, kept off the event loop (one hop for both).
    return await run_in_threadpool(_access, container, tokens, credential, count)


def _access(container: Container, tokens: TokenIssuer, credential: str, count: bool) -> Access:
    if looks_like_jwt(credential):
        claims = tokens.verify(credential)
        principal = Principal(Role.MERCHANT, claims.merchant_id, claims.key_id)
        access = Access(principal, claims.customer_id, expires_at=claims.expires_at)
    else:
        access = Access(container.authenticator.authenticate(credential))
    if count:
        _rate_limit(container, access)
    return access


def buckets(access: Access) -> list[str]:
    """The fixed one-second windows a request counts against, each limited to
    `rate_limit_per_s`: the key's (shared with REST; a customer token has its own, so
    one shopper cannot exhaust the merchant's key), and the merchant's, which every
    credential of the merchant shares (its keys, and every token minted from them),
    so minting tokens does not multiply the merchant's limit."""
    principal = access.principal
    bucket = f"rate:{principal.key_id or principal.role}"
    if access.customer_id is not None:
        bucket += f":{access.customer_id.hex}"
    if principal.merchant_id is None:
        return [bucket]
    return [bucket, merchant_bucket(principal.merchant_id)]


def _rate_limit(container: Container, access: Access) -> None:
    rate_limit.enforce(container, buckets(access), access.principal.merchant_id)
