"""Resolving a capture the acquirer refused: retry it, or reverse it in the books.

    held (RelayFailed capture) ──retry, acquirer captures──▶ confirmed, settled as usual
        │                      └─retry, refused again──▶ still held (the refusal recorded)
        └──reverse──▶ never settled; already paid out ──▶ a correction debit follows it

An operator's command (CLI, admin REST, admin GraphQL), recorded as a payment event with
the reason and the actor. Retries ask the acquirer under one key per payment
(`<payment>:capture:retry`), so however often a retry is repeated, or redone after a
crash, the acquirer captures at most once.

A reversal claims the capture's settlement item itself (its `ItemClaim`, in the same
save), so no settlement can take the capture afterwards and one closing concurrently
conflicts and leaves it out. A capture already in a settlement that is paid (or carried
forward) is corrected by a debit item in the merchant's next settlement; while that
settlement's payout is in flight the reversal waits (409), since a failed payout would
hand the capture back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from paysource.application.disputes import refuse_if_disputed
from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome
from paysource.application.ports import Acquirer, AcquirerError, AcquirerRefused
from paysource.application.results import PaymentState
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
from paysource.domain.payment import Payment, RelayAction
from paysource.domain.settlement import Item, ItemClaim, ItemKind, Settlement, SettlementStatus

__all__ = ["RelayAction", "RelayResolutionService", "Resolution", "fast_path_scope"]

# Idempotency keys of this command are operators' (as opening a dispute's are), apart
# from the merchant's own keys: a merchant's key spelled `resolve_relay:K` named the
# same claim as an operator's `K` while both lived in the merchant's namespace, where
# keys claimed then still are (LEGACY_KEYS: a retry of one must find it). `claim_id`
# checks the operator's key, not the prefix, so the longest key fits.
_KEY_PREFIX = "resolve_relay:"
_KEYS = KeyScope(OPERATOR_KEYS.namespace, _KEY_PREFIX)
LEGACY_KEYS = KeyScope(MERCHANT_KEYS.namespace, _KEY_PREFIX)
_OPERATION = "resolve_relay_"  # + the action: what this command's claims name


def fast_path_scope(payment_id: UUID) -> str:
    """Where an operator's key for this command lives in Redis, for either API. Its claim
    in Postgres lives in the payment's merchant's cell, so the key is the operator's per
    merchant; one scope for all merchants answered 422 for another merchant's payment
    while Redis held the key, and went ahead once it expired. Per payment it can only
    defer to Postgres, which knows the merchant."""
    return f"{_KEY_PREFIX}{payment_id}"


class _Outcome(StrEnum):
    CAPTURED = "captured"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What an operator asked: `action` on `payment_id`, because `reason`."""

    payment_id: UUID
    action: RelayAction
    reason: str


class RelayResolutionService:
    def __init__(self, store: EventStore, acquirer: Acquirer) -> None:
        self._store = store
        self._acquirer = acquirer
        self._claims = Claims(store)

    def resolve(
        self,
        resolution: Resolution,
        *,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[PaymentState]:
        """Retry or reverse the payment's refused capture; replays of a key answer alike."""
        merchant_id = self._payment(resolution.payment_id).merchant_id
        scope = self._scope(merchant_id, idempotency_key)

        def attempt() -> Outcome[Payment]:
            payment = self._payment(resolution.payment_id)
            claim = self._apply(payment, resolution, meta)
            record = None
            if idempotency_key is not None:
                record = IdempotencyRecord.record(
                    merchant_id=merchant_id,
                    key=idempotency_key,
                    operation=f"{_OPERATION}{resolution.action}",
                    request_hash=request_hash,
                    target=payment,
                    meta=meta,
                    scope=scope,
                )
            self._store.save(payment, claim, record)
            return Outcome(payment)

        outcome = self._claims.run(
            merchant_id=merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            kind=Payment,
            attempt=attempt,
            scope=scope,
        )
        return Outcome(PaymentState.of(outcome.value), outcome.replayed)

    def _scope(self, merchant_id: UUID, key: str | None) -> KeyScope:
        """Operators' keys, unless this one resolved a capture before they had a scope:
        its claim is then in the merchant's namespace, where its retries answer from."""
        if key is not None:
            earlier = self._store.get(
                claim_id(merchant_id, key, LEGACY_KEYS), IdempotencyRecord, version=1
            )
            if earlier is not None and earlier.operation.startswith(_OPERATION):
                return LEGACY_KEYS
        return _KEYS

    def _payment(self, payment_id: UUID) -> Payment:
        payment = self._store.get(payment_id, Payment)
        if payment is None:
            raise NotFound("no such payment")
        return payment

    def _apply(self, payment: Payment, resolution: Resolution, meta: Meta) -> ItemClaim | None:
        payment.check_relay_held()
        if resolution.action is RelayAction.RETRY:
            outcome, failure = self._capture_again(payment)
            payment.record_relay_retry(
                succeeded=outcome is _Outcome.CAPTURED,
                reason=resolution.reason,
                failure=failure,
                meta=meta,
            )
            if outcome is _Outcome.CAPTURED:  # the acquirer's word: settleable from now
                payment.confirm_capture(capture_key=_retry_key(payment), meta=meta)
            return None
        refuse_if_disputed(
            self._store, payment.id, "the dispute took its amount and fee from the merchant"
        )
        claim, settled_in = self._claim_for_reversal(payment, meta)
        payment.reverse_capture(reason=resolution.reason, settled_in=settled_in, meta=meta)
        return claim

    def _capture_again(self, payment: Payment) -> tuple[_Outcome, str]:
        assert payment.acquirer_reference is not None  # only captured payments are held
        try:
            self._acquirer.capture(
                idempotency_key=_retry_key(payment),
                reference=payment.acquirer_reference,
                amount=Money(payment.amount_captured, payment.currency),
            )
        except AcquirerRefused as refusal:
            return _Outcome.REFUSED, str(refusal)
        except AcquirerError as error:
            # No answer: the hold stays. Asking again uses the same key, so a capture
            # the acquirer made meanwhile is answered, never made twice.
            return _Outcome.REFUSED, f"the acquirer did not answer: {error}"
        return _Outcome.CAPTURED, ""

    def _claim_for_reversal(
        self, payment: Payment, meta: Meta
    ) -> tuple[ItemClaim | None, UUID | None]:
        """The capture item's claim taken by the reversal (the payment's id stands for
        it), or the paid settlement that already holds the capture."""
        item = Item(
            ItemKind.CAPTURE, payment.id, payment.id, payment.amount_captured, payment.fee_minor
        )
        claim = self._store.get(item.claim_id, ItemClaim)
        if claim is None:
            return ItemClaim.first_claim(item, payment.id, meta), None
        if claim.settlement_id is None:
            claim.claim(payment.id, meta)
            return claim, None
        settlement = self._store.get(claim.settlement_id, Settlement)
        assert settlement is not None  # a claim is saved with its settlement
        if settlement.status is SettlementStatus.CLOSED:
            raise IllegalTransition(
                "the capture is in a settlement whose payout is in flight; reverse it once "
                "the payout is paid or failed",
                code="settlement_payout_in_flight",
            )
        return None, settlement.id


def _retry_key(payment: Payment) -> str:
    return f"{payment.id}:capture:retry"
