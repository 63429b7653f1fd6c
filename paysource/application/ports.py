"""What the application needs from the outside world, as protocols.

Adapters live in `paysource.adapters`; fakes only stand in for external rails.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from paysource.application.webhooks.queue import (
    DEFAULT_PER_MERCHANT,
    Claimed,
    Health,
    Verdict,
)
from paysource.domain.card import CardDetails
from paysource.domain.errors import InvalidValue
from paysource.domain.fees import FeeSchedule
from paysource.domain.money import Money


class Clock(Protocol):
    def now(self) -> datetime: ...


class CardVault(Protocol):
    """Resolves a card token to what we may keep: brand, BIN, last 4. Called on the
    API's event loop (`PaymentService.create_payment_awaiting`): it answers from
    memory, never by waiting on a network."""

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


class Cache(Protocol):
    """A cache that may forget anything (Redis): each call degrades to "not there" rather
    than raising, so callers keep a correct slow path."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, *, ttl_s: int) -> None: ...

    def add(self, key: str, value: bytes, *, ttl_s: int) -> bool | None:
        """Store only if absent: True if stored, False if present, None if unknown."""
        ...

    def delete(self, key: str) -> None: ...

    def add_counting(
        self, key: str, value: bytes, *, ttl_s: int, counters: Sequence[str], window_s: int
    ) -> tuple[bool | None, list[int | None]]:
        """`add`, and one hit in each fixed window of `counters` (their new counts), in
        one round trip; None for what is unknown."""
        ...

    # The same, for callers on an event loop: nothing blocks the loop.

    async def get_async(self, key: str) -> bytes | None: ...

    async def set_async(self, key: str, value: bytes, *, ttl_s: int) -> None: ...

    async def delete_async(self, key: str) -> None: ...

    async def add_counting_async(
        self, key: str, value: bytes, *, ttl_s: int, counters: Sequence[str], window_s: int
    ) -> tuple[bool | None, list[int | None]]: ...


class CustomerDisputes(Protocol):
    """The disputes of a customer's payments (the read models: its erasure finds them)."""

    def of_customer(self, *, merchant_id: UUID, customer_id: UUID) -> list[UUID]: ...


class RecentPayments(Protocol):
    """How many payments a customer made in [since, until) (for velocity rules)."""

    def count_between(
        self, *, merchant_id: UUID, customer_id: UUID, since: datetime, until: datetime
    ) -> int: ...


# The bank rail for payouts ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayoutResult:
    accepted: bool
    reference: str = ""
    reason: str = ""


class BankTimeout(Exception):
    """The rail did not answer: the payout may or may not have been made."""


class BankRail(Protocol):
    """Every payout carries an idempotency key: the same key is paid at most once."""

    def payout(self, *, idempotency_key: str, merchant_id: UUID, amount: Money) -> PayoutResult: ...

    def settle_unknown(self, *, idempotency_key: str) -> PayoutResult | None:
        """After timeouts: the payout's outcome if the rail made it; otherwise make sure
        it never will (cancel the key) and return None."""
        ...


# Webhooks: a URL check and an HTTP transport ------------------------------------

MAX_ERROR_LENGTH = 500


class WebhookUrlRefused(InvalidValue):
    """The URL is not one we deliver to (scheme, or where it resolves: SSRF)."""

    code = "webhook_url_refused"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one HTTP attempt got: a status code, or an error before any answer."""

    status_code: int | None
    latency_ms: int
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def summary(self) -> str:
        if self.error is not None:
            return self.error[:MAX_ERROR_LENGTH]
        return f"HTTP {self.status_code}"


class UrlCheck(Protocol):
    def check(self, url: str) -> object:
        """Raise WebhookUrlRefused unless `url` may receive webhooks now."""
        ...


class WebhookTransport(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        """POST `body` to `url` once (no redirects), checking the URL first; never raise
        for what the receiver or the network does, report it in the result."""
        ...


class DeliveryQueue(Protocol):
    """Webhook deliveries waiting, leased and attempted (Postgres: the queue's limits
    hold across every process). Leasing: `claim`, `release`, `record`; reads: the rest."""

    def now(self) -> datetime:
        """The queue's clock, which every worker agrees on."""
        ...

    def claim(
        self, *, worker: str, limit: int, lease_s: float, per_merchant: int = DEFAULT_PER_MERCHANT
    ) -> list[Claimed]: ...

    def release(self, delivery_ids: list[UUID], *, worker: str) -> None: ...

    def record(
        self,
        claimed: Claimed,
        result: AttemptResult,
        verdict: Verdict,
        *,
        worker: str,
        trigger: str,
    ) -> bool:
        """False if the lease was lost meanwhile (the attempt is stored anyway)."""
        ...

    def record_health(
        self, endpoint_id: UUID, *, succeeded: bool, disable_after: timedelta
    ) -> Health: ...

    def request_resend(self, endpoint_id: UUID, delivery_id: UUID) -> bool: ...

    def list_deliveries(
        self,
        endpoint_id: UUID,
        *,
        limit: int,
        starting_after: UUID | None = None,
        status: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Raises KeyError for a cursor that is not one of the endpoint's deliveries."""
        ...

    def delivery(self, endpoint_id: UUID, delivery_id: UUID) -> dict[str, Any] | None: ...

    def attempts(self, delivery_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]: ...


# Live updates ------------------------------------------------------------------

# A batch's (channel, message) pairs, published in order in one round trip: Redis pub/sub
# in production (adapters.redis.publisher).
Publish = Callable[[Sequence[tuple[str, bytes]]], Any]
# Those of these channels with a subscriber now (Redis `PUBSUB NUMSUB`). A channel
# subscribed later must take what came before from the log, as subscriptions do: they
# subscribe, then read the payment.
Listened = Callable[[Sequence[str]], Collection[str]]


# Personal data (crypto-shredding) ----------------------------------------------


class PersonalDataVault(Protocol):
    """Seals personal data with a key per data subject (a customer; a dispute, for its
    evidence), kept wrapped by a master key. Destroying the key erases everything sealed
    with it, in every copy of every event, at once: the log stays append-only and still
    replays."""

    def seal(self, subject_id: UUID, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt under the subject's key (made on first use); `context` is bound to
        the ciphertext (authenticated, not stored). Raises SubjectErased after `destroy`."""
        ...

    def open(self, subject_id: UUID, sealed: bytes, *, context: bytes) -> bytes | None:
        """The plaintext, or None when the subject's key was destroyed."""
        ...

    def destroy(self, subject_id: UUID) -> None:
        """Destroy the subject's key for good (idempotent); later seals are refused."""
        ...


@dataclass(frozen=True, slots=True)
class RelayMessage:
    """One event on its way to an event bus: a subject, an id the bus dedupes on and
    orders by (the cell and the log position), and the body."""

    subject: str
    msg_id: str
    body: bytes


class EventStream(Protocol):
    """A cell's stream on an event bus (NATS JetStream; Kafka the same way)."""

    def last_msg_id(self) -> str | None:
        """The id of the newest message in the stream (None: it is empty)."""
        ...

    def append(self, messages: list[RelayMessage], *, after: str | None) -> None:
        """Append in order, each only if the stream's last message is its predecessor
        (the first's is `after`); raise if any is not stored."""
        ...

    def close(self) -> None:
        """Let go of the connection (the relay's job stopped)."""
        ...


class Placement(Protocol):
    """Which cell a merchant's objects live in (a directory in the directory cell)."""

    def place(self, merchant_id: UUID, cell: str | None) -> str:
        """Place a new merchant: in `cell`, or (None) by the placement policy. Placing
        a merchant again (a retried registration) answers where it already is."""
        ...

    def cell_of(self, merchant_id: UUID) -> str | None:
        """The merchant's cell, or None for one placed before cells existed."""
        ...
