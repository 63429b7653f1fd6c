"""Idempotency keys as deterministic aggregate ids.

`claim_id(merchant, key)` names the aggregate a keyed command creates: a payment, a
refund, a customer, or (for commands that create nothing) an `IdempotencyRecord`.
Writing version 1 of that aggregate *is* the claim: a second writer of the same key
gets a version conflict from the event store, never a second object. The request's
fingerprint stored in that first event tells a retry (same body) from a reused key
(another body).

Keys live in scopes (`KeyScope`): a merchant's own keys, and an operator's keys for
commands it runs on a merchant's objects (opening a dispute), each in its own uuid5
namespace, so the same key in two scopes names two claims. Only the client's key is
checked against the length limit; a scope's prefix is ours, and the claim id a uuid
whatever the length.

A key is the client's identifier, checked by its shape only, never scanned for card
numbers: scanning refused one ordinary key in ten (`order-42-<unix>.<micros>`) and
still missed spellings. What could leak is kept out instead: events store the key's
keyed hash (`key_digest`), never the key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from uuid import UUID, uuid5

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.errors import InvalidValue
from paysource.domain.meta import KeyDigest, Meta

# Fixed forever: changing either would orphan every stored claim of its scope.
_NAMESPACE = UUID("6f1b0c52-3e1e-4b8e-9a57-2f3c1d7e8a90")
_OPERATOR_NAMESPACE = UUID("b3e8d2a4-5c17-4f6e-8a09-7d1c4e2b9f35")
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class KeyScope:
    """Where a key names its claim: `uuid5(namespace, f"{merchant}:{prefix}{key}")`."""

    namespace: UUID
    # Only for claims written before scopes had namespaces (a prefix in the merchant's
    # keys): kept so their retries still find them.
    prefix: str = ""


MERCHANT_KEYS = KeyScope(_NAMESPACE)
# An operator's keys for commands on a merchant's objects: never the merchant's claims.
OPERATOR_KEYS = KeyScope(_OPERATOR_NAMESPACE)


def check_idempotency_key(key: str) -> str:
    if (
        not 1 <= len(key) <= MAX_KEY_LENGTH
        or not key.isprintable()
        or not key.isascii()
        or not key.strip()
    ):
        raise InvalidValue(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            field="Idempotency-Key",
        )
    return key


def key_digest(key: str, secret: bytes) -> KeyDigest:
    """HMAC-SHA256 of `key` under `secret` (a setting): what events store of the key.

    Keyed, because a plain hash of a key that happens to be a card number could be
    reversed by hashing every number of its BIN; an auditor holding the secret can
    still tell which events a given key produced."""
    return KeyDigest(hmac.new(secret, key.encode(), hashlib.sha256).hexdigest())


def claim_id(merchant_id: UUID, key: str, scope: KeyScope = MERCHANT_KEYS) -> UUID:
    """The claim of `key` in `scope`: the client's key is checked, not the prefix, so the
    longest key a client may send works in every scope."""
    return uuid5(scope.namespace, f"{merchant_id}:{scope.prefix}{check_idempotency_key(key)}")


class IdempotencyRecord(PaysourceAggregate):
    """The claim of a keyed command that creates no object of its own (capture, cancel).

    It points at the object the command changed and the version it left it at, so a
    replay can answer with that object exactly as the command left it.
    """

    class Created(PaysourceAggregate.Created):
        merchant_id: UUID
        operation: str
        request_hash: str
        target_id: UUID
        target_version: int

    def __init__(
        self,
        *,
        merchant_id: UUID,
        operation: str,
        request_hash: str,
        target_id: UUID,
        target_version: int,
    ) -> None:
        # eventsourcing calls this with the Created event's fields, on creation and on
        # every replay: state only, no checks (those ran in `record`).
        self.merchant_id = merchant_id
        self.operation = operation
        self.request_hash = request_hash
        self.target_id = target_id
        self.target_version = target_version

    @classmethod
    def record(
        cls,
        *,
        merchant_id: UUID,
        key: str,
        operation: str,
        request_hash: str,
        target: PaysourceAggregate,
        meta: Meta,
        scope: KeyScope = MERCHANT_KEYS,
    ) -> IdempotencyRecord:
        return cls._open(
            cls.Created,
            aggregate_id=claim_id(merchant_id, key, scope),
            meta=meta,
            merchant_id=merchant_id,
            operation=operation,
            request_hash=request_hash,
            target_id=target.id,
            target_version=target.version,
        )

    @classmethod
    def answered(
        cls,
        *,
        merchant_id: UUID,
        operation: str,
        request_hash: str,
        target: PaysourceAggregate,
        meta: Meta,
    ) -> IdempotencyRecord:
        """The answer a keyed request gave after waiting (`Prefer: wait`): the object at
        the version it was shown. One per object (`answer_id`): the first one written is
        the answer every replay gives."""
        return cls._open(
            cls.Created,
            aggregate_id=answer_id(target.id),
            meta=meta,
            merchant_id=merchant_id,
            operation=operation,
            request_hash=request_hash,
            target_id=target.id,
            target_version=target.version,
        )


def answer_id(target_id: UUID) -> UUID:
    return uuid5(_NAMESPACE, f"{target_id}:answered")
