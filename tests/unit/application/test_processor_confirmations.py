"""The processor confirms captures the acquirer accepted: an automatic capture in the
batch that authorized it, anything else (or one the acquirer did not answer then) in its
`Captured` round, under the same key; a refusal confirms nothing."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from paysource.adapters.acquirer_sim import SimulatedAcquirer
from paysource.adapters.clock import ManualClock
from paysource.application.eventlog import EventStore, Follower, Wakeup, run_until_caught_up
from paysource.application.payments import PaymentService
from paysource.application.ports import AcquirerTimeout
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment, PaymentStatus
from paysource.processes.pipeline import PaymentProcessor, RetryPolicy
from tests.unit.application.conftest import NoRecentPayments, merchant_meta
from tests.unit.application.test_commands import create


class Unanswering(SimulatedAcquirer):
    """The simulator, whose captures time out while `down` (as an acquirer that is)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.capture_calls = 0

    def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        self.capture_calls += 1
        if self.down:
            raise AcquirerTimeout("the acquirer did not answer")
        super().capture(idempotency_key=idempotency_key, reference=reference, amount=amount)


@pytest.fixture
def acquirer() -> Unanswering:
    return Unanswering()


@pytest.fixture
def processor(store: EventStore, acquirer: Unanswering, clock: ManualClock) -> PaymentProcessor:
    retry = RetryPolicy(attempts=2, base_delay_s=0.0)
    return PaymentProcessor(store, acquirer, NoRecentPayments(), clock, retry=retry)


def catch_up(store: EventStore, processor: PaymentProcessor) -> None:
    run_until_caught_up(Follower(store, processor, wakeup=Wakeup()), timeout_s=5)


def history(store: EventStore, payment_id: UUID) -> list[str]:
    return [type(e).__name__ for e in store.history(payment_id)]


def loaded(store: EventStore, payment_id: UUID) -> Payment:
    payment = store.get(payment_id, Payment)
    assert payment is not None
    return payment


def test_an_automatic_capture_is_confirmed_in_the_batch_that_authorized_it(
    payments: PaymentService,
    store: EventStore,
    processor: PaymentProcessor,
    acquirer: Unanswering,
    merchant_id: UUID,
) -> None:
    payment_id = create(payments, merchant_id, "k", capture_method=CaptureMethod.AUTOMATIC)
    found = store.select(after=0, limit=10, topics=processor.topics)
    processor.handle_batch([event for _, event in found], Tracking(processor.name, found[-1][0]))

    pid = payment_id.value.id
    assert history(store, pid) == [
        "Created",
        "RiskAssessed",
        "Authorized",
        "Captured",
        "CaptureConfirmed",
    ]
    catch_up(store, processor)  # the Captured round: confirmed, the acquirer is not asked
    assert acquirer.capture_calls == 1
    assert len(history(store, pid)) == 5
    assert Counter(op.kind for op in acquirer.operations(pid)) == {"authorize": 1, "capture": 1}


def test_an_unanswered_capture_stays_unconfirmed_until_the_acquirer_answers_it(
    payments: PaymentService,
    store: EventStore,
    processor: PaymentProcessor,
    acquirer: Unanswering,
    merchant_id: UUID,
) -> None:
    acquirer.down = True
    pid = create(payments, merchant_id, "k", capture_method=CaptureMethod.AUTOMATIC).value.id

    with pytest.raises(AcquirerTimeout):  # the Captured round waits for the acquirer
        catch_up(store, processor)

    payment = loaded(store, pid)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.awaits_capture_confirmation
    assert "CaptureConfirmed" not in history(store, pid)

    acquirer.down = False
    catch_up(store, processor)

    assert not loaded(store, pid).awaits_capture_confirmation
    confirmed = store.history(pid)[-1]
    assert isinstance(confirmed, Payment.CaptureConfirmed)
    assert confirmed.capture_key == f"{pid}:capture"
    assert [op.key for op in acquirer.operations(pid) if op.kind == "capture"] == [f"{pid}:capture"]


def test_a_manual_capture_is_confirmed_in_its_captured_round(
    payments: PaymentService,
    store: EventStore,
    processor: PaymentProcessor,
    merchant_id: UUID,
) -> None:
    pid = create(payments, merchant_id, "k").value.id
    catch_up(store, processor)
    payments.capture_payment(
        merchant_id=merchant_id,
        payment_id=pid,
        amount=None,
        idempotency_key=None,
        request_hash="c",
        meta=merchant_meta(merchant_id, "c"),
    )
    assert loaded(store, pid).awaits_capture_confirmation

    catch_up(store, processor)

    assert history(store, pid)[-2:] == ["Captured", "CaptureConfirmed"]


@pytest.mark.parametrize("source", ["tok_capture_refused", "tok_capture_refused_once"])
def test_a_refused_capture_is_recorded_and_never_confirmed(
    payments: PaymentService,
    store: EventStore,
    processor: PaymentProcessor,
    merchant_id: UUID,
    source: str,
) -> None:
    pid = create(
        payments, merchant_id, "k", source=source, capture_method=CaptureMethod.AUTOMATIC
    ).value.id

    for _ in range(3):  # its Captured round, and more: the refusal is recorded once
        catch_up(store, processor)

    assert history(store, pid)[-2:] == ["Captured", "RelayFailed"]
    assert loaded(store, pid).awaits_capture_confirmation
