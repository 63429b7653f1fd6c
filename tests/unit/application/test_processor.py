"""The authorization pipeline on the in-memory store, with the acquirer simulator."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from fractions import Fraction
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from paysource.adapters.acquirer_sim import SimulatedAcquirer
from paysource.adapters.clock import ManualClock
from paysource.application.eventlog import EventStore, Follower, Wakeup, run_until_caught_up
from paysource.application.payments import PaymentService
from paysource.application.ports import AcquirerRefused
from paysource.application.refunds import RefundService
from paysource.domain.money import Money
from paysource.domain.payment import CancellationReason, CaptureMethod, Payment, PaymentStatus
from paysource.domain.refund import RefundStatus
from paysource.processes.expiry import HoldExpiry
from paysource.processes.pipeline import PaymentProcessor, RetryPolicy
from tests.unit.application.conftest import NoRecentPayments, merchant_meta
from tests.unit.application.test_commands import create


@pytest.fixture
def processor(
    store: EventStore, acquirer: SimulatedAcquirer, clock: ManualClock
) -> PaymentProcessor:
    return PaymentProcessor(
        store,
        acquirer,
        NoRecentPayments(),
        clock,
        retry=RetryPolicy(attempts=3, base_delay_s=0.0),
    )


def run(store: EventStore, processor: PaymentProcessor) -> None:
    for _ in range(5):
        run_until_caught_up(Follower(store, processor, wakeup=Wakeup()))


@pytest.mark.parametrize(
    ("source", "status", "decline_code", "cancellation"),
    [
        ("tok_visa", PaymentStatus.SUCCEEDED, None, None),
        ("tok_mastercard", PaymentStatus.SUCCEEDED, None, None),
        ("tok_decline", PaymentStatus.FAILED, "card_declined", None),
        ("tok_insufficient_funds", PaymentStatus.FAILED, "insufficient_funds", None),
        ("tok_timeout", PaymentStatus.FAILED, "acquirer_timeout", None),
        ("tok_risk", PaymentStatus.CANCELED, None, CancellationReason.RISK),
    ],
)
def test_each_test_token_ends_in_its_documented_status(
    payments: PaymentService,
    processor: PaymentProcessor,
    store: EventStore,
    merchant_id: UUID,
    source: str,
    status: PaymentStatus,
    decline_code: str | None,
    cancellation: CancellationReason | None,
) -> None:
    payment_id = create(
        payments, merchant_id, "k", source=source, capture_method=CaptureMethod.AUTOMATIC
    ).value.id

    run(store, processor)

    payment = payments.get_payment(merchant_id=merchant_id, payment_id=payment_id)
    assert payment.status is status
    assert payment.decline_code == decline_code
    assert payment.cancellation_reason == cancellation
    if status is PaymentStatus.SUCCEEDED:
        assert payment.fee_minor == round(Fraction(1000 * 290, 10000)) + 30


def test_a_timeout_is_retried_with_the_same_key_then_fails_without_charging(
    payments: PaymentService,
    processor: PaymentProcessor,
    store: EventStore,
    acquirer: SimulatedAcquirer,
    merchant_id: UUID,
) -> None:
    payment_id = create(payments, merchant_id, "k", source="tok_timeout").value.id

    run(store, processor)

    assert acquirer.operations(payment_id) == []
    history = [type(e).__name__ for e in store.history(payment_id)]
    assert history == ["Created", "RiskAssessed", "Declined"]


def test_a_batch_redone_after_a_crash_asks_the_acquirer_with_the_same_keys(
    payments: PaymentService,
    processor: PaymentProcessor,
    store: EventStore,
    acquirer: SimulatedAcquirer,
    merchant_id: UUID,
) -> None:
    ids = [
        create(payments, merchant_id, f"k{n}", capture_method=CaptureMethod.AUTOMATIC).value.id
        for n in range(3)
    ]
    events = [event for _, event in store.select(after=0, limit=10, topics=processor.topics)]

    class Crash(Exception):
        pass

    original_append = store.append

    def crash_on_append(*args: object, **kwargs: object) -> object:
        raise Crash

    store.append = crash_on_append  # type: ignore[method-assign,assignment]
    with pytest.raises(Crash):
        processor.handle_batch(events, Tracking(processor.name, 3))
    store.append = original_append  # type: ignore[method-assign]
    run(store, processor)

    for payment_id in ids:
        counts = Counter(op.kind for op in acquirer.operations(payment_id))
        assert counts == {"authorize": 1, "capture": 1}
        authorize = next(op for op in acquirer.operations(payment_id) if op.kind == "authorize")
        assert authorize.requests == 2, "asked twice, answered once"


def test_a_failed_refund_releases_its_reservation(
    payments: PaymentService,
    refunds: RefundService,
    processor: PaymentProcessor,
    store: EventStore,
    merchant_id: UUID,
) -> None:
    payment_id = create(
        payments, merchant_id, "k", source="tok_refund_fail", capture_method=CaptureMethod.AUTOMATIC
    ).value.id
    run(store, processor)
    refund = refunds.create_refund(
        merchant_id=merchant_id,
        payment_id=payment_id,
        amount=Money(400, "USD"),
        reason=None,
        idempotency_key="r",
        request_hash="r",
        meta=merchant_meta(merchant_id, "r"),
    ).value
    assert (
        payments.get_payment(merchant_id=merchant_id, payment_id=payment_id).amount_refundable
        == 600
    )

    run(store, processor)

    assert (
        refunds.get_refund(merchant_id=merchant_id, refund_id=refund.id).status
        is RefundStatus.FAILED
    )
    payment = payments.get_payment(merchant_id=merchant_id, payment_id=payment_id)
    assert (payment.amount_refunded, payment.amount_refund_pending) == (0, 0)
    assert payment.amount_refundable == 1000


class Holds:
    def __init__(self, store: EventStore, ids: list[UUID]) -> None:
        self.store, self.ids = store, ids

    def expired_holds(self, *, authorized_before: object, limit: int) -> list[UUID]:
        return self.ids[:limit]


def test_uncaptured_holds_expire_after_the_ttl_and_not_before(
    payments: PaymentService,
    processor: PaymentProcessor,
    store: EventStore,
    acquirer: SimulatedAcquirer,
    clock: ManualClock,
    merchant_id: UUID,
) -> None:
    payment_id = create(payments, merchant_id, "k").value.id
    run(store, processor)
    expiry = HoldExpiry(store, Holds(store, [payment_id]), clock, hold_ttl=timedelta(days=7))

    clock.advance(timedelta(days=6, hours=23))
    assert expiry.sweep() == 0
    clock.advance(timedelta(hours=2))
    assert expiry.sweep() == 1
    assert expiry.sweep() == 0

    payment = store.get(payment_id, Payment)
    assert payment is not None
    assert (payment.status, payment.cancellation_reason) == (
        PaymentStatus.CANCELED,
        CancellationReason.EXPIRED,
    )
    run(store, processor)
    assert Counter(op.kind for op in acquirer.operations(payment_id)) == {"authorize": 1, "void": 1}


def test_an_authorization_whose_answer_is_lost_is_found_and_captured_once(
    payments: PaymentService,
    processor: PaymentProcessor,
    store: EventStore,
    acquirer: SimulatedAcquirer,
    merchant_id: UUID,
) -> None:
    payment_id = create(
        payments, merchant_id, "k", source="tok_auth_lost", capture_method=CaptureMethod.AUTOMATIC
    ).value.id

    run(store, processor)

    payment = payments.get_payment(merchant_id=merchant_id, payment_id=payment_id)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert Counter(op.kind for op in acquirer.operations(payment_id)) == {
        "authorize": 1,
        "capture": 1,
    }


def test_a_timed_out_authorization_is_cancelled_at_the_acquirer_so_no_hold_appears_later(
    payments: PaymentService,
    processor: PaymentProcessor,
    store: EventStore,
    acquirer: SimulatedAcquirer,
    merchant_id: UUID,
) -> None:
    payment = create(payments, merchant_id, "k", source="tok_timeout").value
    run(store, processor)

    late = acquirer.authorize(
        idempotency_key=f"{payment.id}:authorize",
        payment_id=payment.id,
        amount=payment.amount,
        card=payment.card.__class__("tok_visa", "visa", "424242", "4242"),
    )

    assert late.approved is False
    assert acquirer.operations(payment.id) == []


def test_a_refund_whose_answer_is_lost_is_found_succeeded_not_released(
    payments: PaymentService,
    refunds: RefundService,
    processor: PaymentProcessor,
    store: EventStore,
    acquirer: SimulatedAcquirer,
    merchant_id: UUID,
) -> None:
    payment_id = create(
        payments, merchant_id, "k", source="tok_refund_lost", capture_method=CaptureMethod.AUTOMATIC
    ).value.id
    run(store, processor)
    refund = refunds.create_refund(
        merchant_id=merchant_id,
        payment_id=payment_id,
        amount=Money(400, "USD"),
        reason=None,
        idempotency_key="r",
        request_hash="r",
        meta=merchant_meta(merchant_id, "r"),
    ).value

    run(store, processor)

    assert refunds.get_refund(merchant_id=merchant_id, refund_id=refund.id).status is (
        RefundStatus.SUCCEEDED
    )
    payment = payments.get_payment(merchant_id=merchant_id, payment_id=payment_id)
    assert (payment.amount_refunded, payment.amount_refundable) == (400, 600)
    made = [op for op in acquirer.operations(payment_id) if op.kind == "refund"]
    assert [op.amount_minor for op in made] == [400]


class RefusesCaptures(SimulatedAcquirer):
    """An acquirer that will not capture one payment (e.g. its hold has lapsed)."""

    def __init__(self, refused: set[UUID]) -> None:
        super().__init__()
        self.refused = refused

    def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        if UUID(idempotency_key.split(":", maxsplit=1)[0]) in self.refused:
            raise AcquirerRefused("the authorization has lapsed")
        super().capture(idempotency_key=idempotency_key, reference=reference, amount=amount)


def test_a_refused_capture_is_recorded_and_does_not_hold_up_other_payments(
    payments: PaymentService, store: EventStore, clock: ManualClock, merchant_id: UUID
) -> None:
    stuck = create(payments, merchant_id, "a", capture_method=CaptureMethod.AUTOMATIC).value.id
    acquirer = RefusesCaptures({stuck})
    processor = PaymentProcessor(
        store, acquirer, NoRecentPayments(), clock, retry=RetryPolicy(attempts=2, base_delay_s=0)
    )
    run(store, processor)
    other = create(payments, merchant_id, "b", capture_method=CaptureMethod.AUTOMATIC).value.id

    run(store, processor)

    assert payments.get_payment(merchant_id=merchant_id, payment_id=other).status is (
        PaymentStatus.SUCCEEDED
    )
    refused = payments.get_payment(merchant_id=merchant_id, payment_id=stuck)
    assert refused.relay_failures == ["capture"]
    assert [type(e).__name__ for e in store.history(stuck)][-1] == "RelayFailed"
