"""Payment commands: create, capture, cancel; and the reads served from the log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from paysource import logs
from paysource.application.errors import InvalidSource, NotFound
from paysource.application.eventlog import ConcurrencyConflict, EventStore
from paysource.application.idempotency import Claims, Outcome
from paysource.application.ids import Kind, encode
from paysource.application.merchants import MerchantFees
from paysource.application.ports import CardVault, FeeLookup
from paysource.application.results import PaymentState
from paysource.application.tracing import span, traced
from paysource.domain.card import CardDetails
from paysource.domain.customer import Customer
from paysource.domain.errors import PaysourceError
from paysource.domain.idempotency import IdempotencyRecord, answer_id, claim_id
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment

MAX_HISTORY_EVENTS = 10_000


def in_currency(amount: Money | int | None, currency: str) -> Money | None:
    """An amount given in minor units is in the currency of the object it applies to."""
    if amount is None or isinstance(amount, Money):
        return amount
    return Money(amount, currency)


def _result(outcome: Outcome[Payment]) -> Outcome[PaymentState]:
    return Outcome(PaymentState.of(outcome.value), outcome.replayed)


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A payment to create, as POST /v1/payments and the createPayment mutation ask."""

    merchant_id: UUID
    idempotency_key: str
    request_hash: str
    amount: Money
    source: str  # a card token; the vault knows the card behind it
    capture_method: CaptureMethod
    meta: Meta
    customer_id: UUID | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    payment_id: UUID = field(init=False)  # the key's payment: a uuid5, computed once

    def __post_init__(self) -> None:
        object.__setattr__(self, "payment_id", claim_id(self.merchant_id, self.idempotency_key))

    def payment(self, card: CardDetails) -> Payment:
        return Payment.create(
            payment_id=self.payment_id,
            merchant_id=self.merchant_id,
            customer_id=self.customer_id,
            amount=self.amount,
            capture_method=self.capture_method,
            card=card,
            description=self.description,
            metadata=dict(self.metadata),
            request_hash=self.request_hash,
            meta=self.meta,
        )


class PaymentService:
    def __init__(
        self, store: EventStore, vault: CardVault, *, fees: FeeLookup | None = None
    ) -> None:
        self._store = store
        self._vault = vault
        self._fees = fees or MerchantFees(store)
        self._claims = Claims(store)

    @traced("command create_payment")
    def create_payment(self, new: NewPayment) -> Outcome[PaymentState]:
        """Record the payment as `processing`; the worker authorizes it."""
        logs.bind(payment=encode(Kind.PAYMENT, new.payment_id))

        def attempt() -> Outcome[Payment]:
            try:
                card = self._check_references(new.merchant_id, new.source, new.customer_id)
            except PaysourceError:
                # Writing the claim is the usual check, but a retry of a payment made
                # earlier may no longer validate (a single-use token, spent): replay it.
                earlier = self._claims.replay(
                    merchant_id=new.merchant_id,
                    key=new.idempotency_key,
                    request_hash=new.request_hash,
                    kind=Payment,
                )
                if earlier is not None:
                    return earlier
                raise
            payment = new.payment(card)
            self._store.save(payment)
            return Outcome(payment)

        outcome = self._claims.run(
            merchant_id=new.merchant_id,
            key=new.idempotency_key,
            request_hash=new.request_hash,
            kind=Payment,
            attempt=attempt,
            look_first=False,
        )
        return _result(self._as_answered(outcome))

    async def create_payment_awaiting(self, new: NewPayment) -> Outcome[PaymentState] | None:
        """`create_payment` on the event loop, for the common case: a card the vault
        knows, no customer (whose check reads Postgres), saves in group commits. It
        awaits the commit rather than holding a thread (bench/README.md, "The floor").
        None when it is not that case: it then wrote nothing, and `create_payment` (in a
        thread) does what the case needs. A key whose payment exists is replayed (or
        refused, 422) here, its earlier answer read in a thread."""
        if new.customer_id is not None or not self._store.commits_in_groups:
            return None
        card = self._vault.describe(new.source)
        if card is None:
            return None  # maybe a retry of a payment whose single-use token is spent
        with span("command create_payment"):
            logs.bind(payment=encode(Kind.PAYMENT, new.payment_id))
            payment = new.payment(card)
            try:
                await self._store.save_async(payment)
            except ConcurrencyConflict:
                # The key's payment exists: its replay, or 422 for another body. Read in
                # a thread (Postgres), not inserted again as `create_payment` would.
                return await asyncio.to_thread(
                    self.replayed_creation, new.merchant_id, new.idempotency_key, new.request_hash
                )
        return _result(Outcome(payment))

    def replayed_creation(
        self, merchant_id: UUID, key: str, request_hash: str
    ) -> Outcome[PaymentState] | None:
        """The first answer to a creation with this key, as Postgres recorded it (422
        for another body), or None when none is recorded."""
        earlier = self._claims.replay(
            merchant_id=merchant_id, key=key, request_hash=request_hash, kind=Payment
        )
        return None if earlier is None else _result(self._as_answered(earlier))

    def _as_answered(self, outcome: Outcome[Payment]) -> Outcome[Payment]:
        """A replay shows what the first answer showed: for a creation that waited
        (`Prefer: wait`), the payment as the wait saw it (`record_answer`), not as it
        was created. Here, so that a replay says the same on either API."""
        answered = self.answered(outcome.value.id) if outcome.replayed else None
        return outcome if answered is None else Outcome(answered, replayed=True)

    @traced("command capture_payment")
    def capture_payment(
        self,
        *,
        merchant_id: UUID,
        payment_id: UUID,
        amount: Money | int | None,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[PaymentState]:
        """Capture `amount` (minor units of the payment's currency, or Money; None: all)."""

        def attempt() -> Outcome[Payment]:
            payment = self.get_payment(merchant_id=merchant_id, payment_id=payment_id)
            payment.capture(in_currency(amount, payment.currency), self._fees(merchant_id), meta)
            return self._save_keyed(payment, idempotency_key, "capture", request_hash, meta)

        return self._run(merchant_id, idempotency_key, request_hash, attempt)

    @traced("command cancel_payment")
    def cancel_payment(
        self,
        *,
        merchant_id: UUID,
        payment_id: UUID,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[PaymentState]:
        def attempt() -> Outcome[Payment]:
            payment = self.get_payment(merchant_id=merchant_id, payment_id=payment_id)
            payment.cancel(meta)
            return self._save_keyed(payment, idempotency_key, "cancel", request_hash, meta)

        return self._run(merchant_id, idempotency_key, request_hash, attempt)

    def _run(
        self,
        merchant_id: UUID,
        key: str | None,
        request_hash: str,
        attempt: Callable[[], Outcome[Payment]],
    ) -> Outcome[PaymentState]:
        return _result(
            self._claims.run(
                merchant_id=merchant_id,
                key=key,
                request_hash=request_hash,
                kind=Payment,
                attempt=attempt,
            )
        )

    def _save_keyed(
        self,
        payment: Payment,
        key: str | None,
        operation: str,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[Payment]:
        record = None
        if key is not None:
            record = IdempotencyRecord.record(
                merchant_id=payment.merchant_id,
                key=key,
                operation=operation,
                request_hash=request_hash,
                target=payment,
                meta=meta,
            )
        self._store.save(payment, record)
        return Outcome(payment)

    # Reads from the write side: always the latest committed state ---------------------

    def get_payment(
        self, *, merchant_id: UUID | None, payment_id: UUID, version: int | None = None
    ) -> Payment:
        """The payment, if `merchant_id` owns it (None: any merchant, for staff roles)."""
        payment = self._store.get(payment_id, Payment, version=version)
        if payment is None or merchant_id not in (None, payment.merchant_id):
            raise NotFound("no such payment")
        return payment

    def payment_history(
        self, *, merchant_id: UUID | None, payment_id: UUID
    ) -> list[DomainEventProtocol[UUID]]:
        self.get_payment(merchant_id=merchant_id, payment_id=payment_id, version=1)
        return self._store.history(payment_id, limit=MAX_HISTORY_EVENTS)

    def record_answer(self, *, payment: Payment, request_hash: str, meta: Meta) -> Payment:
        """Record `payment` (as a `Prefer: wait` creation showed it) as the answer to its
        idempotency key, unless an answer was recorded first: then that one. Replays
        answer with it, whatever the payment became since (`answered`)."""
        record = IdempotencyRecord.answered(
            merchant_id=payment.merchant_id,
            operation="create_payment_waited",
            request_hash=request_hash,
            target=payment,
            meta=meta,
        )
        try:
            self._store.save(record)
        except ConcurrencyConflict:
            return self.answered(payment.id) or payment
        return payment

    def answered(self, payment_id: UUID) -> Payment | None:
        """The payment as the recorded answer to its creation showed it, if one was."""
        record = self._store.get(answer_id(payment_id), IdempotencyRecord)
        if record is None:
            return None
        return self._store.get(payment_id, Payment, version=record.target_version)

    def wait_until_final(self, *, merchant_id: UUID, payment_id: UUID, timeout_s: float) -> Payment:
        """The payment once final, or as it is when `timeout_s` runs out."""
        deadline = time.monotonic() + timeout_s
        delay = 0.01
        while True:
            payment = self.get_payment(merchant_id=merchant_id, payment_id=payment_id)
            remaining = deadline - time.monotonic()
            if payment.is_final or remaining <= 0:
                return payment
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.2)

    def _check_references(
        self, merchant_id: UUID, source: str, customer_id: UUID | None
    ) -> CardDetails:
        card = self._vault.describe(source)
        if card is None:
            raise InvalidSource("source is not a known card token", field="source")
        if customer_id is not None:
            self._customer(merchant_id, customer_id)
        return card

    def _customer(self, merchant_id: UUID, customer_id: UUID) -> Customer:
        customer = self._store.get(customer_id, Customer)
        if customer is None or customer.merchant_id != merchant_id:
            raise NotFound("no such customer")
        return customer
