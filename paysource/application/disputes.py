"""Dispute commands: open (acquirer notice or admin), evidence (merchant), decide, expire.

Every command is safe to retry. A dispute's id derives from its payment's (one dispute
per payment), so a notice received twice opens it once; keyed requests go through
`Claims` as every other command does (same key and body: the first answer; another
body: 422). An operator's key opening or deciding a dispute is claimed among operators'
keys (`OPERATOR_KEYS`), never among the merchant's own, which opening used to meet.

The evidence's personal fields are sealed under the dispute's key (personal_data.py);
erasing the payment's customer destroys it and records `Dispute.EvidenceErased`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from paysource.application.erased_history import shown_history
from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.fastpath import FastPath
from paysource.application.idempotency import Claims, Outcome, with_conflict_retries
from paysource.application.payments import MAX_HISTORY_EVENTS
from paysource.application.ports import CustomerDisputes, PersonalDataVault
from paysource.domain.customer import Customer
from paysource.domain.dispute import Dispute, DisputeReason, DisputeStatus, dispute_id
from paysource.domain.errors import IllegalTransition
from paysource.domain.idempotency import (
    MERCHANT_KEYS,
    OPERATOR_KEYS,
    IdempotencyRecord,
    KeyScope,
    claim_id,
)
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.payment import Payment

# Where a dispute came from: the acquirer's notice, or an operator standing in for it.
SOURCE_ACQUIRER = "acquirer"
SOURCE_ADMIN = "admin"
_OPEN = "open_dispute"  # the operations its idempotency records name
_DECIDE = "decide_dispute"

Event = DomainEventProtocol[UUID]


@dataclass(frozen=True, slots=True)
class DisputeNotice:
    """The acquirer's word that a cardholder disputed a payment (a chargeback)."""

    reason: DisputeReason
    amount_minor: int | None = None  # None: all that was captured and not refunded


class DisputeNotices(Protocol):
    """The port the acquirer's chargeback notices come through (the simulator's
    `tok_disputed` payments are disputed as soon as they are captured)."""

    def dispute_notices(self, *, payment_ids: Sequence[UUID]) -> Mapping[UUID, DisputeNotice]:
        """The notices about these payments, by payment. Acquirers name a disputed
        payment by the merchant's reference sent with the authorization (our payment
        id), so a batch of captures is asked about at once, before any is loaded."""
        ...


class DisputeService:
    def __init__(
        self,
        store: EventStore,
        vault: PersonalDataVault | None = None,
        customer_disputes: CustomerDisputes | None = None,
        answers: FastPath | None = None,
    ) -> None:
        self._store = store
        self._claims = Claims(store)
        self._vault = vault
        self._customer_disputes = customer_disputes
        self._answers = answers  # Redis's answers to keyed requests, to forget on erasure

    def open_dispute(
        self,
        *,
        payment_id: UUID,
        amount: int | None,
        reason: DisputeReason,
        source: str,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[Dispute]:
        """Open the dispute of a captured payment: its amount (default: all that was
        captured and not refunded) and fee leave the merchant's balance at once."""
        payment = self._store.get(payment_id, Payment)
        if payment is None:
            raise NotFound("no such payment")
        money = None if amount is None else Money(amount, payment.currency)
        scope = self._operator_scope(payment.merchant_id, idempotency_key)

        def attempt() -> Outcome[Dispute]:
            existing = self._store.get(dispute_id(payment_id), Dispute)
            if existing is not None:
                return _already_open(existing, request_hash)
            current = self._store.get(payment_id, Payment)
            assert current is not None  # payments are never deleted
            dispute = Dispute.open(
                payment=current,
                amount=money,
                reason=reason,
                source=source,
                request_hash=request_hash,
                meta=meta,
            )
            return self._save(dispute, idempotency_key, _OPEN, request_hash, meta, scope=scope)

        return self._claims.run(
            merchant_id=payment.merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            kind=Dispute,
            attempt=attempt,
            scope=scope,
        )

    def _operator_scope(self, merchant_id: UUID, key: str | None) -> KeyScope:
        """Operators' keys, unless this one opened a dispute before they had a scope:
        its claim is then among the merchant's keys, and its retries answer from there as
        they did (only an operator ever wrote an `open_dispute` claim)."""
        if key is not None:
            earlier = self._store.get(claim_id(merchant_id, key), IdempotencyRecord, version=1)
            if earlier is not None and earlier.operation == _OPEN:
                return MERCHANT_KEYS
        return OPERATOR_KEYS

    def submit_evidence(
        self,
        *,
        merchant_id: UUID,
        dispute: UUID,
        evidence: dict[str, str],
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[Dispute]:
        """The merchant's answer: moves the dispute from needs_response to under_review."""

        def attempt() -> Outcome[Dispute]:
            found = self.get(merchant_id=merchant_id, dispute=dispute)
            if not found.evidence_erased and self._customer_erased(found):
                # A chargeback after the customer's erasure: its evidence is erased
                # before it is written, so none may name the customer.
                self._erase(found, meta)
            found.submit_evidence(evidence, meta)
            return self._save(found, idempotency_key, "dispute_evidence", request_hash, meta)

        # A replayed answer is the dispute at an earlier version, as `history` shows it
        # (its evidence erased since, maybe): `Claims` loads it so (erased_history.py).
        return self._claims.run(
            merchant_id=merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            kind=Dispute,
            attempt=attempt,
        )

    def decide(
        self,
        *,
        dispute: UUID,
        won: bool,
        outcome_reason: str,
        meta: Meta,
        idempotency_key: str | None = None,
        request_hash: str = "",
    ) -> Outcome[Dispute]:
        """The acquirer's decision (or an operator's in its stead). Asking again for the
        decision already taken answers it again; the other decision is a conflict.

        A keyed request is claimed among operators' keys (as opening is): its replay
        answers the dispute as that decision left it, deciding nothing; the same key
        with the other outcome, or on another dispute, is `idempotency_key_reused`.
        Without a key (the CLI), a retry answers the dispute as it is now."""
        wanted = DisputeStatus.WON if won else DisputeStatus.LOST
        merchant_id = self.get(merchant_id=None, dispute=dispute).merchant_id

        def attempt() -> Outcome[Dispute]:
            found = self.get(merchant_id=None, dispute=dispute)
            if found.status is wanted:
                # Decided so already (by an unkeyed retry, the acquirer): the key now
                # names this answer, so its replays give it, and another body is refused.
                if idempotency_key is not None:
                    record = self._record(
                        found, idempotency_key, _DECIDE, request_hash, meta, scope=OPERATOR_KEYS
                    )
                    self._store.save(record)
                return Outcome(found, replayed=True)
            decision = found.win if won else found.lose
            decision(outcome_reason=outcome_reason, meta=meta)
            return self._save(
                found, idempotency_key, _DECIDE, request_hash, meta, scope=OPERATOR_KEYS
            )

        return self._claims.run(
            merchant_id=merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            kind=Dispute,
            attempt=attempt,
            scope=OPERATOR_KEYS,
        )

    def expire(self, *, dispute: UUID, meta: Meta) -> Outcome[Dispute]:
        """Lose a dispute whose due date passed without evidence (idempotent)."""

        def attempt() -> Outcome[Dispute]:
            found = self.get(merchant_id=None, dispute=dispute)
            if found.status is DisputeStatus.LOST:
                return Outcome(found, replayed=True)
            found.expire(meta)
            self._store.save(found)
            return Outcome(found)

        return with_conflict_retries(attempt)

    def expire_due(self, due: Callable[[datetime], list[UUID]], meta: Meta) -> list[UUID]:
        """Expire every dispute `due` names at `meta.at`; the ids of those now lost."""
        expired = []
        for found in due(meta.at):
            try:
                self.expire(dispute=found, meta=meta)
            except IllegalTransition:
                continue  # evidence arrived, or it was decided, since the read model saw it
            expired.append(found)
        return expired

    def erase_customer_evidence(
        self, *, merchant_id: UUID, customer_id: UUID, meta: Meta
    ) -> list[UUID]:
        """Erase the evidence of every dispute of the customer's payments (idempotent);
        their ids. Run after `Customer.Erased` is recorded: evidence written meanwhile
        is then refused by `submit_evidence`, or erased here."""
        if self._customer_disputes is None:
            return []
        found = self._customer_disputes.of_customer(
            merchant_id=merchant_id, customer_id=customer_id
        )
        for dispute in found:
            self.erase_evidence(dispute=dispute, meta=meta)
        return found

    def erase_evidence(self, *, dispute: UUID, meta: Meta) -> None:
        """Erase the personal fields of the dispute's evidence for good (idempotent)."""
        with_conflict_retries(
            lambda: self._erase(self.get(merchant_id=None, dispute=dispute), meta)
        )

    def _erase(self, dispute: Dispute, meta: Meta) -> None:
        """Destroy the dispute's key, then record the erasure (the order of
        `CustomerService.erase_customer`, for the same reason), then forget its cached
        answers; again: the key and the answers only."""
        if self._vault is not None:
            self._vault.destroy(dispute.id)
        if not dispute.evidence_erased:
            dispute.erase_evidence(meta)
            self._store.save(dispute)
        self._forget_answers(dispute)

    def _forget_answers(self, dispute: Dispute) -> None:
        """Delete the Redis answers to its evidence: versions before sealing kept them
        with their body (for `idempotency_cache_ttl_s`), which a retry would replay,
        beyond erasure's reach. Their key's digest is in the event's meta."""
        if self._answers is None or dispute.evidence_submitted_at is None:
            return
        for event in self._store.history(dispute.id, limit=MAX_HISTORY_EVENTS):
            if isinstance(event, Dispute.EvidenceSubmitted):
                digest = event.meta.get("idempotency_key_hmac")
                if digest is not None:
                    self._answers.forget(scope=str(dispute.merchant_id), key=digest)

    def _customer_erased(self, dispute: Dispute) -> bool:
        payment = self._store.get(dispute.payment_id, Payment)
        if payment is None or payment.customer_id is None:
            return False
        customer = self._store.get(payment.customer_id, Customer)
        return customer is not None and customer.erased

    def history(self, *, dispute: UUID) -> list[Event]:
        """The dispute's events, oldest first, as they may be shown now: with its
        evidence erased once it is (erased_history.py)."""
        return shown_history(self._store, dispute)

    def get(self, *, merchant_id: UUID | None, dispute: UUID) -> Dispute:
        """The dispute, if `merchant_id` owns it (None: staff, any merchant)."""
        found = self._store.get(dispute, Dispute)
        if found is None or merchant_id not in (None, found.merchant_id):
            raise NotFound("no such dispute")
        return found

    def _save(
        self,
        dispute: Dispute,
        key: str | None,
        operation: str,
        request_hash: str,
        meta: Meta,
        *,
        scope: KeyScope = MERCHANT_KEYS,
    ) -> Outcome[Dispute]:
        record = None
        if key is not None:
            record = self._record(dispute, key, operation, request_hash, meta, scope=scope)
        self._store.save(dispute, record)
        return Outcome(dispute)

    @staticmethod
    def _record(
        dispute: Dispute,
        key: str,
        operation: str,
        request_hash: str,
        meta: Meta,
        *,
        scope: KeyScope,
    ) -> IdempotencyRecord:
        """The claim of `key`, pointing at `dispute` at the version the command left."""
        return IdempotencyRecord.record(
            merchant_id=dispute.merchant_id,
            key=key,
            operation=operation,
            request_hash=request_hash,
            target=dispute,
            meta=meta,
            scope=scope,
        )


def _already_open(existing: Dispute, request_hash: str) -> Outcome[Dispute]:
    """A second notice of the same chargeback answers the first; a different one for
    the same payment is refused (one dispute per payment)."""
    if existing.request_hash == request_hash:
        return Outcome(existing, replayed=True)
    raise IllegalTransition("the payment is already disputed", code="payment_already_disputed")


def refuse_if_disputed(store: EventStore, payment_id: UUID, because: str) -> None:
    """Refuse to move a disputed payment's money again (a refund, a capture's reversal)
    unless the merchant won the dispute: the dispute moves it already.

    A check, not a claim: a dispute opened between it and the save is not seen; the
    acquirer's dispute then meets a refund, as it would at a real acquirer."""
    dispute = store.get(dispute_id(payment_id), Dispute)
    if dispute is not None and dispute.status is not DisputeStatus.WON:
        raise IllegalTransition(f"the payment is disputed: {because}", code="payment_disputed")
