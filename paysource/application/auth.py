"""API keys: minting, and turning a presented key into a Principal.

A key reads `psk_<key id>_<secret>`: the id finds the ApiKey aggregate in one read,
the secret's SHA-256 digest is compared in constant time. The plaintext is shown
once, when minted, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from uuid import UUID, uuid4

from paysource.application.errors import Forbidden, Unauthenticated
from paysource.application.eventlog import EventStore
from paysource.domain.api_key import ApiKey, Role
from paysource.domain.meta import ActorKind, KeyDigest, Meta

KEY_PREFIX = "psk_"
_CACHE_TTL_S = 30.0
_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    merchant_id: UUID | None = None
    key_id: UUID | None = None

    @property
    def actor(self) -> ActorKind:
        return ActorKind(str(self.role))

    @property
    def actor_id(self) -> str:
        return str(self.merchant_id or self.key_id or self.role)

    def meta(
        self,
        *,
        request_id: str | None = None,
        idempotency_key_hmac: KeyDigest | None = None,
        traceparent: str | None = None,
    ) -> Meta:
        return Meta(
            self.actor,
            self.actor_id,
            request_id=request_id,
            idempotency_key_hmac=idempotency_key_hmac,
            traceparent=traceparent,
        )

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"this {self.role} key cannot do this")

    def require_merchant(self) -> UUID:
        if self.merchant_id is None:
            raise Forbidden("this needs a merchant key")
        return self.merchant_id


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(key_id: UUID) -> str:
    return f"{KEY_PREFIX}{key_id.hex}_{secrets.token_hex(32)}"


def parse_key_id(key: str) -> UUID | None:
    if not key.startswith(KEY_PREFIX):
        return None
    key_id, _, secret = key[len(KEY_PREFIX) :].partition("_")
    if len(key_id) != 32 or len(secret) != 64:
        return None
    try:
        return UUID(hex=key_id)
    except ValueError:
        return None


class Authenticator:
    """Checks bearer keys; remembers good ones briefly so a request costs no read."""

    def __init__(self, store: EventStore, *, admin_key: str) -> None:
        self._store = store
        self._admin_digest = digest(admin_key)
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        role: Role,
        merchant_id: UUID | None,
        label: str,
        meta: Meta,
        key_id: UUID | None = None,
        request_hash: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key (its id `key_id`, else a random one) and its plaintext, which only
        the caller ever sees: the aggregate records its digest."""
        key_id = key_id or uuid4()
        plaintext = new_key(key_id)
        api_key = ApiKey.issue(
            key_id=key_id,
            role=role,
            merchant_id=merchant_id,
            key_digest=digest(plaintext),
            label=label,
            meta=meta,
            request_hash=request_hash,
        )
        return api_key, plaintext

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()

    def authenticate(self, presented: str) -> Principal:
        presented_digest = digest(presented)
        if hmac.compare_digest(presented_digest, self._admin_digest):
            return Principal(Role.ADMIN)
        cached = self._cached(presented_digest)
        if cached is not None:
            return cached
        principal = self._lookup(presented, presented_digest)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[presented_digest] = (time.monotonic() + _CACHE_TTL_S, principal)
        return principal

    def cached(self, presented: str) -> Principal | None:
        """The principal of a key seen recently (no I/O), else None: `authenticate`."""
        presented_digest = digest(presented)
        if hmac.compare_digest(presented_digest, self._admin_digest):
            return Principal(Role.ADMIN)
        return self._cached(presented_digest)

    def _cached(self, presented_digest: str) -> Principal | None:
        with self._lock:
            entry = self._cache.get(presented_digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _lookup(self, presented: str, presented_digest: str) -> Principal:
        key_id = parse_key_id(presented)
        api_key = None if key_id is None else self._store.get(key_id, ApiKey)
        if (
            api_key is None
            or api_key.revoked
            or not hmac.compare_digest(api_key.key_digest, presented_digest)
        ):
            raise Unauthenticated("the API key is not valid")
        return Principal(api_key.role, api_key.merchant_id, api_key.id)
