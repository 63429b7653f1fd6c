"""Requests per second per merchant: every key and token of a merchant shares one limit,
the default (`PAYSOURCE_RATE_LIMIT_PER_S`) unless an admin set the merchant's own.

The limit is asked for on every request, so it is cached per process for `ttl_s`: a
change applies at once in the process that made it and within `ttl_s` elsewhere (as a
revoked key does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from uuid import UUID

from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.domain.merchant import Merchant
from paysource.domain.meta import Meta

MAX_CACHED = 10_000


class RateLimits:
    def __init__(
        self,
        directory: EventStore,
        *,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._ttl_s = ttl_s
        self._clock = clock
        self._cached: dict[UUID, tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def per_second(self, merchant_id: UUID | None, *, default: int) -> int:
        """The limit of `merchant_id` (None: a staff key, which has the default)."""
        if merchant_id is None:
            return default
        own = self._own(merchant_id)
        return default if own is None else own

    def known_per_second(self, merchant_id: UUID, *, default: int) -> int | None:
        """`per_second` if it is known without asking the directory (None: not cached,
        or cached too long ago), for a caller that must not wait on the database."""
        now = self._clock()
        with self._lock:
            cached = self._cached.get(merchant_id)
        if cached is None or cached[0] <= now:
            return None
        return default if cached[1] is None else cached[1]

    def set_limit(self, *, merchant_id: UUID, per_s: int | None, meta: Meta) -> Merchant:
        """Set the merchant's own limit (None: back to the default)."""
        merchant = self._directory.get(merchant_id, Merchant)
        if merchant is None:
            raise NotFound("no such merchant")
        merchant.change_rate_limit(per_s, meta)
        self._directory.save(merchant)
        with self._lock:
            self._cached[merchant_id] = (self._clock() + self._ttl_s, merchant.rate_limit_per_s)
        return merchant

    def _own(self, merchant_id: UUID) -> int | None:
        now = self._clock()
        with self._lock:
            cached = self._cached.get(merchant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        merchant = self._directory.get(merchant_id, Merchant)
        own = merchant.rate_limit_per_s if merchant is not None else None
        with self._lock:
            if len(self._cached) >= MAX_CACHED:
                self._cached.clear()
            self._cached[merchant_id] = (now + self._ttl_s, own)
        return own
