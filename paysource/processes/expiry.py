"""Hold expiry: cancel authorizations nobody captured within the hold TTL."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from paysource.application.eventlog import EventStore
from paysource.application.idempotency import with_conflict_retries
from paysource.application.ports import Clock
from paysource.domain.meta import Meta
from paysource.domain.payment import Payment, PaymentStatus

log = logging.getLogger(__name__)


class ExpiredHolds(Protocol):
    def expired_holds(self, *, authorized_before: datetime, limit: int) -> list[UUID]: ...


class HoldExpiry:
    def __init__(
        self, store: EventStore, holds: ExpiredHolds, clock: Clock, *, hold_ttl: timedelta
    ) -> None:
        self._store = store
        self._holds = holds
        self._clock = clock
        self._ttl = hold_ttl

    def sweep(self, *, limit: int = 500) -> int:
        """Expire up to `limit` overdue holds; return how many were expired now.

        The read model only nominates candidates; each is reloaded from the event
        store and expired only if it is still an uncaptured, overdue hold.
        """
        now = self._clock.now()
        expired = 0
        for payment_id in self._holds.expired_holds(authorized_before=now - self._ttl, limit=limit):
            if with_conflict_retries(functools.partial(self._expire, payment_id, now)):
                expired += 1
        if expired:
            log.info("expired %d uncaptured holds older than %s", expired, self._ttl)
        return expired

    def _expire(self, payment_id: UUID, now: datetime) -> bool:
        payment = self._store.get(payment_id, Payment)
        if payment is None or payment.status is not PaymentStatus.REQUIRES_CAPTURE:
            return False
        assert payment.authorized_at is not None
        if now - payment.authorized_at < self._ttl:
            return False
        payment.expire(now=now, hold_ttl=self._ttl, meta=Meta.system("hold-expiry", at=now))
        self._store.save(payment)
        return True
