"""Who is calling: the same bearer API keys as REST, or a short-lived JWT.

Authentication happens once per request (once per connection for subscriptions),
before any resolver runs: a missing or bad credential is a 401 problem, exactly as
on REST, and the per-key rate limit is shared with REST.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from paysource.api.problems import Problem
from paysource.application.auth import Principal
from paysource.application.errors import Unauthenticated
from paysource.application.tokens import TokenIssuer, looks_like_jwt
from paysource.bootstrap import Container
from paysource.domain.api_key import Role
from paysource.graphql.policy import Access


def bearer_credential(authorization: str | None) -> str:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("send an API key or token as 'Authorization: Bearer <credential>'")
    return credential.strip()


async def authenticate(
    container: Container, tokens: TokenIssuer, authorization: str | None
) -> Access:
    credential = bearer_credential(authorization)
    # Key lookups may read the event store and the rate limit asks Redis: blocking
    # calls, kept off the event loop (one hop for both).
    return await run_in_threadpool(_access, container, tokens, credential)


def _access(container: Container, tokens: TokenIssuer, credential: str) -> Access:
    if looks_like_jwt(credential):
        claims = tokens.verify(credential)
        principal = Principal(Role.MERCHANT, claims.merchant_id, claims.key_id)
        access = Access(principal, claims.customer_id)
    else:
        access = Access(container.authenticator.authenticate(credential))
    _rate_limit(container, access)
    return access


def _rate_limit(container: Container, access: Access) -> None:
    """REST's fixed one-second window per key (shared with REST); a customer token
    counts against its own window, so one shopper cannot exhaust the merchant's."""
    if container.cache is None:
        return
    principal = access.principal
    bucket = f"rate:{principal.key_id or principal.role}"
    if access.customer_id is not None:
        bucket += f":{access.customer_id.hex}"
    count = container.cache.hit(bucket, window_s=1)
    if count is not None and count > container.settings.rate_limit_per_s:
        raise Problem(
            429, "rate_limited", "too many requests for this API key; slow down", retry_after_s=1
        )
