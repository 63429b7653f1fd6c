"""Request fingerprints and the keyed-command protocol shared by every service."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from paysource.application.erased_history import past_version
from paysource.application.errors import ConcurrentModification, IdempotencyKeyReused
from paysource.application.eventlog import ConcurrencyConflict, EventStore
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.idempotency import MERCHANT_KEYS, IdempotencyRecord, KeyScope, claim_id

T = TypeVar("T", bound=PaysourceAggregate)
V = TypeVar("V")
R = TypeVar("R")

CONFLICT_ATTEMPTS = 6


def fingerprint(method: str, path: str, body: Mapping[str, Any] | None) -> str:
    """A digest of the request as the client meant it: JSON key order and spacing
    do not matter, every value does."""
    canonical = json.dumps(
        [method.upper(), path, body or {}],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Outcome(Generic[V]):
    """What a command left: the object as the command left it (an aggregate inside the
    application, a frozen result such as `results.PaymentState` at its edge), and
    whether this answer is a replay of an earlier request with the same idempotency key."""

    value: V
    replayed: bool = False


def backoff(attempt: int) -> None:
    # Jitter spreads retries of concurrent writers so they stop colliding.
    time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311  # not cryptographic


def with_conflict_retries(attempt: Callable[[], R]) -> R:
    """Run a load-decide-save `attempt`, again on a version conflict, a bounded number
    of times (then 409: the client may retry with the same key)."""
    for number in range(CONFLICT_ATTEMPTS):
        try:
            return attempt()
        except ConcurrencyConflict:
            backoff(number)
    raise ConcurrentModification("the object kept changing under this request; retry it")


class Claims:
    """Find the earlier answer to a keyed request, if there is one."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def replay(
        self,
        *,
        merchant_id: UUID,
        key: str,
        request_hash: str,
        kind: type[T],
        scope: KeyScope = MERCHANT_KEYS,
    ) -> Outcome[T] | None:
        # Both loads are of past versions, shown as they may be now: a customer erased
        # since answers erased, and its creation's digest (personal) no longer matches.
        claimed = past_version(
            self._store, claim_id(merchant_id, key, scope), PaysourceAggregate, version=1
        )
        if claimed is None:
            return None
        # The claim id is derived from (merchant, key), so only the request can differ.
        if getattr(claimed, "request_hash", None) != request_hash:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request; use a new key"
            )
        if isinstance(claimed, IdempotencyRecord):
            target = past_version(self._store, claimed.target_id, kind, claimed.target_version)
        else:
            target = claimed if isinstance(claimed, kind) else None
        if target is None:
            raise IdempotencyKeyReused("this Idempotency-Key was used for another operation")
        return Outcome(target, replayed=True)

    def recorded(
        self, *, merchant_id: UUID, key: str, operation: str, scope: KeyScope = MERCHANT_KEYS
    ) -> bool:
        """Whether `key` is claimed by a record of `operation`: which of a command's
        first answers (made something, or found it made) a replay gives back."""
        record = self._store.get(claim_id(merchant_id, key, scope), IdempotencyRecord)
        return record is not None and record.operation == operation

    def run(
        self,
        *,
        merchant_id: UUID,
        key: str | None,
        request_hash: str,
        kind: type[T],
        attempt: Callable[[], Outcome[T]],
        look_first: bool = True,
        scope: KeyScope = MERCHANT_KEYS,
    ) -> Outcome[T]:
        """Answer a keyed request once: replay the first answer, else run `attempt`.

        The claim is checked first because a retried command may no longer be legal
        (a second capture) though its first run succeeded; and again after a
        conflict, which may be a concurrent request with the same key winning. A
        command whose rules cannot change with time (creating a payment) may skip
        the first look: writing its claim is the check, and saves a read.
        """
        if key is None:
            return with_conflict_retries(attempt)
        for number in range(CONFLICT_ATTEMPTS):
            if look_first or number > 0:
                earlier = self.replay(
                    merchant_id=merchant_id,
                    key=key,
                    request_hash=request_hash,
                    kind=kind,
                    scope=scope,
                )
                if earlier is not None:
                    return earlier
            try:
                return attempt()
            except ConcurrencyConflict:
                backoff(number)
        raise ConcurrentModification("the object kept changing under this request; retry it")
