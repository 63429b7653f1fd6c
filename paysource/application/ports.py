"""What the application needs from the outside world, as protocols.

Adapters live in `paysource.adapters`; fakes only stand in for external rails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from paysource.domain.card import CardDetails
from paysource.domain.fees import FeeSchedule
from paysource.domain.money import Money


class Clock(Protocol):
    def now(self) -> datetime: ...


class CardVault(Protocol):
    """Resolves a card token to what we may keep: brand, BIN, last 4."""

    def describe(self, token: str) -> CardDetails | None: ...


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    approved: bool
    reference: str = ""
    authorization_code: str = ""
    decline_code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class RefundResult:
    succeeded: bool
    reference: str = ""
    failure_code: str = ""


class AcquirerError(Exception):
    """A transient failure of the acquirer: retry with the same idempotency key."""


class AcquirerTimeout(AcquirerError):
    pass


class AcquirerRefused(Exception):
    """The acquirer will not do this, whatever the retries (e.g. a capture of an
    authorization it already released): recorded on the payment, not retried."""


class Acquirer(Protocol):
    """The card acquirer. Every call carries an idempotency key: a retried call with
    the same key must return the first answer and never move money twice."""

    def authorize(
        self, *, idempotency_key: str, payment_id: UUID, amount: Money, card: CardDetails
    ) -> AuthorizationResult: ...

    def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None: ...

    def void(self, *, idempotency_key: str, reference: str) -> None: ...

    def refund(self, *, idempotency_key: str, reference: str, amount: Money) -> RefundResult: ...

    # After timeouts we do not know whether the acquirer acted. These ask; when it did
    # not, the acquirer cancels the key (a late arrival is refused) and they return None.
    def resolve_authorization(self, *, idempotency_key: str) -> AuthorizationResult | None: ...

    def resolve_refund(self, *, idempotency_key: str) -> RefundResult | None: ...


class FeeLookup(Protocol):
    """A merchant's current fee schedule (from the directory of merchants)."""

    def __call__(self, merchant_id: UUID) -> FeeSchedule: ...


class RecentPayments(Protocol):
    """How many payments a customer made in [since, until) (for velocity rules)."""

    def count_between(
        self, *, merchant_id: UUID, customer_id: UUID, since: datetime, until: datetime
    ) -> int: ...
