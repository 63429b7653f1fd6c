"""The pipeline's batches: a failing or conflicting payment never fails its neighbours,
and a worker stopped mid-batch leaves every payment charged once."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from paysource.adapters.acquirer_sim import SimulatedAcquirer
from paysource.adapters.clock import ManualClock
from paysource.application.eventlog import EventStore, Follower, Wakeup, run_until_caught_up
from paysource.application.payments import PaymentService
from paysource.application.ports import AcquirerRefused, AuthorizationResult, RefundResult
from paysource.application.refunds import RefundService
from paysource.domain.card import CardDetails
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, PaymentStatus
from paysource.domain.refund import RefundStatus
from paysource.processes.pipeline import PaymentProcessor, RetryPolicy
from tests.unit.application.conftest import NoRecentPayments, merchant_meta
from tests.unit.application.test_commands import create

AUTOMATIC = CaptureMethod.AUTOMATIC


class Bug(Exception):
    """What a broken payment raises while being processed (not an acquirer error)."""


class Killed(BaseException):  # like SIGKILL: nothing after it runs
    """The worker process dies here: no handler catches it, nothing is committed."""


class Flaky(SimulatedAcquirer):
    """The simulator, with faults for chosen payments (test hooks, not test cards)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[UUID] = set()
        self.refuse_captures: set[UUID] = set()
        self.kill_after: int | None = None  # authorizations before the process dies
        self.on_refund: list[object] = []

    def authorize(
        self, *, idempotency_key: str, payment_id: UUID, amount: Money, card: CardDetails
    ) -> AuthorizationResult:
        if payment_id in self.broken:
            raise Bug(f"cannot process {payment_id}")
        if self.kill_after is not None:
            if self.kill_after == 0:
                raise Killed
            self.kill_after -= 1
        return super().authorize(
            idempotency_key=idempotency_key, payment_id=payment_id, amount=amount, card=card
        )

    def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        if UUID(idempotency_key.split(":", maxsplit=1)[0]) in self.refuse_captures:
            raise AcquirerRefused("the authorization has lapsed")
        super().capture(idempotency_key=idempotency_key, reference=reference, amount=amount)

    def refund(self, *, idempotency_key: str, reference: str, amount: Money) -> RefundResult:
        while self.on_refund:  # a merchant's request lands while we wait for the acquirer
            self.on_refund.pop()()  # type: ignore[operator]
        return super().refund(idempotency_key=idempotency_key, reference=reference, amount=amount)


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


def processor_for(
    store: EventStore, acquirer: SimulatedAcquirer, clock: ManualClock
) -> PaymentProcessor:
    retry = RetryPolicy(attempts=2, base_delay_s=0.0)
    return PaymentProcessor(store, acquirer, NoRecentPayments(), clock, retry=retry)


def pending(store: EventStore, processor: PaymentProcessor) -> tuple[list[object], Tracking]:
    """The processor's next batch (everything after its position), as the follower reads it."""
    found = store.select(after=processor.position(), limit=100, topics=processor.topics)
    return [event for _, event in found], Tracking(processor.name, found[-1][0])


def run(store: EventStore, processor: PaymentProcessor) -> None:
    for _ in range(4):  # the processor follows its own Captured events too
        run_until_caught_up(Follower(store, processor, wakeup=Wakeup()))


def automatic(payments: PaymentService, merchant_id: UUID, key: str) -> UUID:
    return create(payments, merchant_id, key, capture_method=AUTOMATIC).value.id


def kinds(acquirer: SimulatedAcquirer, payment_id: UUID) -> Counter[str]:
    return Counter(op.kind for op in acquirer.operations(payment_id))


def authorize_requests(acquirer: SimulatedAcquirer, payment_id: UUID) -> int:
    return next(op.requests for op in acquirer.operations(payment_id) if op.kind == "authorize")


def test_a_payment_that_fails_does_not_fail_the_others_of_its_batch(
    payments: PaymentService, store: EventStore, flaky: Flaky, clock: ManualClock, merchant_id: UUID
) -> None:
    ids = [automatic(payments, merchant_id, f"k{n}") for n in range(4)]
    flaky.broken = {ids[1]}
    processor = processor_for(store, flaky, clock)
    events, tracking = pending(store, processor)

    with pytest.raises(Bug):
        processor.handle_batch(events, tracking)

    statuses = [payments.get_payment(merchant_id=merchant_id, payment_id=p).status for p in ids]
    assert statuses[1] is PaymentStatus.PROCESSING
    assert [s for n, s in enumerate(statuses) if n != 1] == [PaymentStatus.SUCCEEDED] * 3
    assert processor.position() == 0, "the failed payment's event is not skipped"

    flaky.broken = set()
    run(store, processor)

    for payment_id in ids:
        assert payments.get_payment(merchant_id=merchant_id, payment_id=payment_id).status is (
            PaymentStatus.SUCCEEDED
        )
        assert kinds(flaky, payment_id) == {"authorize": 1, "capture": 1}
        history = [type(e).__name__ for e in store.history(payment_id)]
        assert history.count("Authorized") == history.count("Captured") == 1


def test_a_conflicting_payment_is_redone_alone_and_its_neighbours_are_not(
    payments: PaymentService,
    refunds: RefundService,
    store: EventStore,
    flaky: Flaky,
    clock: ManualClock,
    merchant_id: UUID,
) -> None:
    processor = processor_for(store, flaky, clock)
    refunded = create(payments, merchant_id, "r", capture_method=AUTOMATIC).value.id
    run(store, processor)
    first = refund(refunds, merchant_id, refunded, "first")
    neighbours = [
        create(payments, merchant_id, f"n{n}", capture_method=AUTOMATIC).value.id for n in range(3)
    ]
    # While the acquirer refunds, the merchant reserves a second refund on the same
    # payment: the batch's append conflicts on that payment alone.
    second: list[UUID] = []
    flaky.on_refund.append(lambda: second.append(refund(refunds, merchant_id, refunded, "second")))

    run(store, processor)

    assert second, "the concurrent refund happened during the batch"
    for refund_id in (first, second[0]):
        assert refunds.get_refund(merchant_id=merchant_id, refund_id=refund_id).status is (
            RefundStatus.SUCCEEDED
        )
    payment = payments.get_payment(merchant_id=merchant_id, payment_id=refunded)
    assert (payment.amount_refunded, payment.amount_refund_pending) == (200, 0)
    for payment_id in neighbours:
        assert payments.get_payment(merchant_id=merchant_id, payment_id=payment_id).status is (
            PaymentStatus.SUCCEEDED
        )
        assert authorize_requests(flaky, payment_id) == 1, "a neighbour is not redone"


def refund(refunds: RefundService, merchant_id: UUID, payment_id: UUID, key: str) -> UUID:
    return refunds.create_refund(
        merchant_id=merchant_id,
        payment_id=payment_id,
        amount=Money(100, "USD"),
        reason=None,
        idempotency_key=key,
        request_hash=key,
        meta=merchant_meta(merchant_id, key),
    ).value.id


def test_a_refused_capture_is_recorded_once_though_its_batch_is_redone(
    payments: PaymentService, store: EventStore, flaky: Flaky, clock: ManualClock, merchant_id: UUID
) -> None:
    processor = processor_for(store, flaky, clock)
    refused = create(payments, merchant_id, "a").value.id  # manual capture
    run(store, processor)
    payments.capture_payment(
        merchant_id=merchant_id,
        payment_id=refused,
        amount=None,
        idempotency_key=None,
        request_hash="c",
        meta=merchant_meta(merchant_id, "c"),
    )
    broken = create(payments, merchant_id, "b").value.id
    flaky.refuse_captures, flaky.broken = {refused}, {broken}
    events, tracking = pending(store, processor)

    with pytest.raises(Bug):  # the refusal is saved beside the broken payment's failure
        processor.handle_batch(events, tracking)
    flaky.broken = set()
    run(store, processor)  # the batch again, from the same position

    history = [type(e).__name__ for e in store.history(refused)]
    assert history.count("RelayFailed") == 1
    assert payments.get_payment(merchant_id=merchant_id, payment_id=refused).relay_failures == [
        "capture"
    ]


def test_a_worker_killed_mid_batch_and_restarted_charges_each_payment_once(
    payments: PaymentService, store: EventStore, flaky: Flaky, clock: ManualClock, merchant_id: UUID
) -> None:
    ids = [automatic(payments, merchant_id, f"k{n}") for n in range(6)]
    flaky.kill_after = 3  # three authorizations reach the acquirer, then the process dies
    dying = processor_for(store, flaky, clock)
    events, tracking = pending(store, dying)

    with pytest.raises(Killed):
        dying.handle_batch(events, tracking)

    assert dying.position() == 0
    assert all(len(store.history(p)) == 1 for p in ids), "nothing of the batch was committed"
    flaky.kill_after = None
    run(store, processor_for(store, flaky, clock))  # the restarted worker

    asked_twice = 0
    for payment_id in ids:
        assert payments.get_payment(merchant_id=merchant_id, payment_id=payment_id).status is (
            PaymentStatus.SUCCEEDED
        )
        assert kinds(flaky, payment_id) == {"authorize": 1, "capture": 1}
        history = [type(e).__name__ for e in store.history(payment_id)]
        assert history.count("Authorized") == history.count("Captured") == 1
        asked_twice += authorize_requests(flaky, payment_id) == 2
    assert asked_twice == 3, "the ones asked before the crash got their first answer again"
