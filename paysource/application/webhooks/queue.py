"""The values that cross the delivery queue port: what a claim hands out, what an
attempt decides, how an endpoint's health stands, and the retry and disable policies
that turn an attempt into a verdict. Plain values, so the application, the delivery
process and the Postgres queue (the port's adapter) share them without importing
each other."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

# Page sizes of the queue's reads (the API clamps to them too).
MAX_PAGE = 100
MAX_ATTEMPTS_SHOWN = 50
# Attempts in flight per merchant across every lane and process, unless configured.
DEFAULT_PER_MERCHANT = 2
DELIVERY_ID_PREFIX = "whd"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds the lease of, with what it needs to send it."""

    id: UUID
    event_id: UUID
    endpoint_id: UUID
    merchant_id: UUID
    event_type: str
    status: str
    attempts: int
    enqueued_at: datetime
    resend_at: datetime | None  # set: a resend asked for by hand (a manual attempt)
    url: str
    secret_generation: int
    secret_rotated_at: datetime | None
    payload: str
    # The object and version whose event this delivers: its stored trace context links
    # the delivery's span to the request that caused it.
    object_id: UUID | None = None
    object_version: int = 0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Claimed:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row})

    @property
    def trigger(self) -> str:
        return "automatic" if self.resend_at is None else "manual"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What becomes of a delivery after an attempt: its status and, if it is still
    pending, when to try again."""

    status: str
    retry_in: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Health:
    failing_since: datetime | None
    consecutive_failures: int
    enabled: bool
    failing_longer_than_allowed: bool = False


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Delays double from `base_delay_s` up to `max_delay_s`, each drawn uniformly
    from [ceiling/2, ceiling] so receivers that failed together do not get their
    retries together; the last retry happens at the end of `budget`."""

    base_delay_s: float = 30.0
    max_delay_s: float = 6 * 3600.0
    budget: timedelta = timedelta(days=3)
    max_attempts: int = 40

    def ceiling_s(self, failures: int) -> float:
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** min(failures - 1, 40)))

    def verdict(
        self, *, failures: int, enqueued_at: datetime, now: datetime, rng: random.Random
    ) -> Verdict:
        deadline = enqueued_at + self.budget
        if failures >= self.max_attempts or now >= deadline:
            return Verdict("failed")
        ceiling = self.ceiling_s(failures)
        delay = timedelta(seconds=rng.uniform(ceiling / 2, ceiling))
        return Verdict("pending", min(delay, deadline - now))


@dataclass(frozen=True, slots=True)
class DisablePolicy:
    """Disable an endpoint after every attempt for `after` failed (and at least
    `min_failures` of them, so one failure after a quiet week does not count)."""

    after: timedelta = timedelta(days=3)
    min_failures: int = 10
