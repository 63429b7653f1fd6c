"""Short-lived tokens a merchant's backend mints for its own frontend (GraphQL only).

A token is a JWT signed with HS256 and a server secret. The algorithm is pinned on
both sides (a token claiming `none` or RS256 is refused), and `exp`, `iat`, `iss`,
`aud` and `sub` are required. A token acts as its merchant; with a `cus` claim it
sees one customer of that merchant and may change nothing (a customer's browser
holds it). Tokens cannot be revoked: they live minutes (`MAX_TTL_S` at most).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from pydantic import SecretStr

from paysource.application.errors import Unauthenticated
from paysource.config import Settings
from paysource.domain.errors import InvalidValue

ALGORITHM = "HS256"
ISSUER = "paysource"
AUDIENCE = "paysource:graphql"
DEFAULT_TTL_S = 900
MIN_TTL_S = 60
MAX_TTL_S = 3600
# Clocks of the minting backend and of paysource may differ a little.
LEEWAY_S = 5
_REQUIRED = ["exp", "iat", "iss", "aud", "sub"]


def derived_secret(admin_key: str) -> bytes:
    """A signing secret derived from the admin key, until a dedicated one is set.

    Derived, not the key itself: a leaked token signature then says nothing about
    the admin key, and rotating the admin key invalidates every token.
    """
    return hmac.new(admin_key.encode(), b"paysource-jwt-v1", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class TokenClaims:
    merchant_id: UUID
    key_id: UUID | None
    customer_id: UUID | None
    # When the token stops being accepted (`exp`): a websocket opened with it ends then.
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MintedToken:
    token: str
    expires_at: datetime


class TokenIssuer:
    def __init__(self, secret: bytes) -> None:
        assert len(secret) >= 32, "an HS256 secret needs at least 256 bits"
        self._secret = secret

    def mint(
        self,
        *,
        merchant_id: UUID,
        key_id: UUID | None,
        customer_id: UUID | None = None,
        ttl_s: int = DEFAULT_TTL_S,
        now: datetime | None = None,
    ) -> MintedToken:
        if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
            raise InvalidValue(
                f"ttl_s must be between {MIN_TTL_S} and {MAX_TTL_S} seconds", field="ttl_s"
            )
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = issued + timedelta(seconds=ttl_s)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": merchant_id.hex,
            "iat": issued,
            "exp": expires,
            "jti": secrets.token_hex(8),
        }
        if key_id is not None:
            claims["key"] = key_id.hex
        if customer_id is not None:
            claims["cus"] = customer_id.hex
        return MintedToken(jwt.encode(claims, self._secret, algorithm=ALGORITHM), expires)

    def verify(self, token: str, *, now: datetime | None = None) -> TokenClaims:
        """The token's claims, or Unauthenticated (never saying which check failed).

        Beyond the signature and the standard claims: `aud` must be our audience as
        a string (not a list that merely contains it), and the token may live at
        most MAX_TTL_S, whoever signed it (`exp - iat`, and `exp` from now): a
        secret that leaked cannot mint tokens that outlive its rotation by years.
        """
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": _REQUIRED},
            )
            if claims["aud"] != AUDIENCE:
                raise ValueError("aud")
            issued, expires = _instant(claims["iat"]), _instant(claims["exp"])
            current = now or datetime.now(UTC)
            if expires - issued > _MAX_TTL or expires - current > _MAX_TTL + _LEEWAY:
                raise ValueError("exp")
            return TokenClaims(
                merchant_id=UUID(hex=claims["sub"]),
                key_id=_optional_uuid(claims.get("key")),
                customer_id=_optional_uuid(claims.get("cus")),
                expires_at=expires,
            )
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError, OverflowError):
            raise Unauthenticated("the token is not valid") from None


_MAX_TTL = timedelta(seconds=MAX_TTL_S)
_LEEWAY = timedelta(seconds=LEEWAY_S)


def _instant(value: object) -> datetime:
    """A NumericDate claim (PyJWT checked it is a number) as an aware datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a NumericDate claim must be a number")
    return datetime.fromtimestamp(value, UTC)


def _optional_uuid(value: object) -> UUID | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("a uuid claim must be a string")
    return UUID(hex=value)


def looks_like_jwt(credential: str) -> bool:
    """API keys read `psk_…`; a JWT is three base64url parts, its header `{"…`."""
    return credential.startswith("eyJ") and credential.count(".") == 2


def issuer_for(settings: Settings) -> TokenIssuer:
    """The issuer configured by `settings`: `jwt_secret` when the settings have one
    (PAYSOURCE_JWT_SECRET), else a secret derived from the admin key."""
    configured: Any = getattr(settings, "jwt_secret", None)
    if isinstance(configured, SecretStr):
        configured = configured.get_secret_value()
    if configured:
        return TokenIssuer(str(configured).encode())
    return TokenIssuer(derived_secret(settings.admin_key.get_secret_value()))
