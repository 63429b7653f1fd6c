"""Idempotency keys of commands whose claims live apart from the merchant's own keys: the
longest key a client may send works through each of them, and an operator's key never
meets the merchant's, while keys written before scopes existed answer as they did."""

from __future__ import annotations

from uuid import UUID

import pytest

from paysource.adapters.clock import ManualClock
from paysource.application import relay_resolution
from paysource.application.disputes import SOURCE_ADMIN, DisputeService
from paysource.application.errors import IdempotencyKeyReused
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import fingerprint
from paysource.application.payments import PaymentService
from paysource.application.relay_resolution import RelayResolutionService, Resolution
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.domain.idempotency import MAX_KEY_LENGTH, IdempotencyRecord, claim_id
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.payment import CaptureMethod, PaymentStatus, RelayAction
from paysource.processes.pipeline import PaymentProcessor, RetryPolicy
from tests.unit.application.conftest import NoRecentPayments
from tests.unit.application.test_commands import create
from tests.unit.application.test_processor import RefusesCaptures, run

ADMIN = Meta(ActorKind.ADMIN, "ops")
LONGEST = "k" * MAX_KEY_LENGTH


def captured(payments: PaymentService, store: EventStore, merchant_id: UUID, key: str) -> UUID:
    payment = create(payments, merchant_id, key, capture_method=CaptureMethod.AUTOMATIC)
    run(store, PaymentProcessor(store, RefusesCaptures(set()), NoRecentPayments(), ManualClock()))
    assert payments.get_payment(merchant_id=merchant_id, payment_id=payment.value.id).status is (
        PaymentStatus.SUCCEEDED
    )
    return payment.value.id


def refused(payments: PaymentService, store: EventStore, merchant_id: UUID) -> UUID:
    """A payment whose capture the acquirer refused: held for an operator to resolve."""
    payment = create(payments, merchant_id, "held", capture_method=CaptureMethod.AUTOMATIC)
    acquirer = RefusesCaptures({payment.value.id})
    processor = PaymentProcessor(
        store, acquirer, NoRecentPayments(), ManualClock(), retry=RetryPolicy(2, 0.0)
    )
    run(store, processor)
    return payment.value.id


def open_as_admin(store: EventStore, payment: UUID, key: str | None) -> tuple[Dispute, bool]:
    body = {"payment": str(payment), "reason": "fraudulent"}
    outcome = DisputeService(store).open_dispute(
        payment_id=payment,
        amount=None,
        reason=DisputeReason.FRAUDULENT,
        source=SOURCE_ADMIN,
        idempotency_key=key,
        request_hash=fingerprint("POST", "/v1/disputes", body),
        meta=ADMIN,
    )
    return outcome.value, outcome.replayed


@pytest.mark.parametrize("action", [RelayAction.RETRY, RelayAction.REVERSE])
def test_the_longest_key_resolves_a_held_capture_and_replays(
    payments: PaymentService, store: EventStore, merchant_id: UUID, action: RelayAction
) -> None:
    payment = refused(payments, store, merchant_id)
    service = RelayResolutionService(store, RefusesCaptures({payment}))

    def resolve() -> bool:
        outcome = service.resolve(
            Resolution(payment, action, "ops ticket 42"),
            idempotency_key=LONGEST,
            request_hash="h",
            meta=ADMIN,
        )
        return outcome.replayed

    assert resolve() is False
    assert resolve() is True


def test_a_resolution_key_claimed_before_scopes_existed_replays_as_it_did(
    payments: PaymentService, store: EventStore, merchant_id: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = refused(payments, store, merchant_id)
    service = RelayResolutionService(store, RefusesCaptures({payment}))

    def resolve() -> bool:
        outcome = service.resolve(
            Resolution(payment, RelayAction.REVERSE, "ops"),
            idempotency_key="ops-42",
            request_hash="h",
            meta=ADMIN,
        )
        return outcome.replayed

    with monkeypatch.context() as old_code:  # as claims were written before
        old_code.setattr(relay_resolution, "_KEYS", relay_resolution.LEGACY_KEYS)
        assert resolve() is False
    record = store.get(claim_id(merchant_id, "resolve_relay:ops-42"), IdempotencyRecord)
    assert record is not None
    assert record.operation == "resolve_relay_reverse"

    assert resolve() is True  # found where it was written


def test_a_merchants_key_spelled_with_the_prefix_does_not_meet_an_operators(
    payments: PaymentService, store: EventStore, merchant_id: UUID
) -> None:
    create(payments, merchant_id, "resolve_relay:ops-42", capture_method=CaptureMethod.AUTOMATIC)
    payment = refused(payments, store, merchant_id)
    service = RelayResolutionService(store, RefusesCaptures({payment}))

    outcome = service.resolve(
        Resolution(payment, RelayAction.REVERSE, "ops"),
        idempotency_key="ops-42",
        request_hash="h",
        meta=ADMIN,
    )

    assert outcome.replayed is False
    assert outcome.value.id == payment


def test_the_longest_key_opens_a_dispute_as_admin_and_replays(
    payments: PaymentService, store: EventStore, merchant_id: UUID
) -> None:
    payment = captured(payments, store, merchant_id, "p")

    first, replayed_first = open_as_admin(store, payment, LONGEST)
    again, replayed_again = open_as_admin(store, payment, LONGEST)

    assert (replayed_first, replayed_again) == (False, True)
    assert again.id == first.id


def test_an_admins_dispute_key_does_not_meet_the_merchants_payment_key(
    payments: PaymentService, store: EventStore, merchant_id: UUID
) -> None:
    payment = captured(payments, store, merchant_id, "order-42")

    dispute, replayed = open_as_admin(store, payment, "order-42")

    assert (dispute.payment_id, replayed) == (payment, False)


def test_a_merchants_key_is_free_after_an_admin_used_it_for_a_dispute(
    payments: PaymentService, store: EventStore, merchant_id: UUID
) -> None:
    disputed = captured(payments, store, merchant_id, "p")
    open_as_admin(store, disputed, "order-43")

    outcome = create(payments, merchant_id, "order-43")

    assert not outcome.replayed
    assert outcome.value.id != disputed


def test_an_admin_key_claimed_before_scopes_existed_answers_as_it_did(
    payments: PaymentService, store: EventStore, merchant_id: UUID
) -> None:
    payment = captured(payments, store, merchant_id, "p")
    other = captured(payments, store, merchant_id, "q")
    dispute, _ = open_as_admin(store, payment, None)
    body = {"payment": str(payment), "reason": "fraudulent"}
    store.save(  # as the admin route wrote it then: in the merchant's own keys
        IdempotencyRecord.record(
            merchant_id=merchant_id,
            key="legacy-1",
            operation="open_dispute",
            request_hash=fingerprint("POST", "/v1/disputes", body),
            target=dispute,
            meta=ADMIN,
        )
    )

    again, replayed = open_as_admin(store, payment, "legacy-1")
    assert (again.id, replayed) == (dispute.id, True)
    with pytest.raises(IdempotencyKeyReused):
        open_as_admin(store, other, "legacy-1")  # reused for another payment: 422 as before
