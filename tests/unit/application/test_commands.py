"""Keyed commands: one answer per key, replays as the first answer, reused keys refused."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from paysource.application.errors import IdempotencyKeyReused, InvalidSource, NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Outcome, fingerprint
from paysource.application.payments import NewPayment, PaymentService
from paysource.application.refunds import RefundService
from paysource.domain.errors import IllegalTransition
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment, PaymentStatus
from paysource.domain.risk import RiskAssessment, RiskOutcome
from tests.unit.application.conftest import merchant_meta


def create(
    payments: PaymentService,
    merchant_id: UUID,
    key: str,
    *,
    amount: int = 1000,
    source: str = "tok_visa",
    capture_method: CaptureMethod = CaptureMethod.MANUAL,
) -> Outcome[Payment]:
    body = {"amount": amount, "source": source, "capture": str(capture_method)}
    return payments.create_payment(
        NewPayment(
            merchant_id=merchant_id,
            idempotency_key=key,
            request_hash=fingerprint("POST", "/v1/payments", body),
            amount=Money(amount, "USD"),
            source=source,
            capture_method=capture_method,
            meta=merchant_meta(merchant_id, key),
        )
    )


def authorize(store: EventStore, payment_id: UUID, merchant_id: UUID) -> Payment:
    payment = store.get(payment_id, Payment)
    assert payment is not None
    meta = merchant_meta(merchant_id)
    payment.assess_risk(RiskAssessment(RiskOutcome.NORMAL, 0), meta)
    payment.authorize(authorization_code="A1", acquirer_reference="ref", meta=meta)
    store.save(payment)
    return payment


def test_a_key_creates_one_payment_and_a_retry_replays_it_as_first_answered(
    payments: PaymentService, merchant_id: UUID, store: EventStore
) -> None:
    first = create(payments, merchant_id, "order-1")
    authorize(store, first.value.id, merchant_id)

    again = create(payments, merchant_id, "order-1")

    assert again.replayed is True
    assert again.value.id == first.value.id
    assert again.value.version == 1
    assert again.value.status is PaymentStatus.PROCESSING


def test_a_key_reused_with_another_body_is_refused_and_writes_nothing(
    payments: PaymentService, merchant_id: UUID, store: EventStore
) -> None:
    create(payments, merchant_id, "order-1", amount=1000)
    head = store.head()

    with pytest.raises(IdempotencyKeyReused):
        create(payments, merchant_id, "order-1", amount=2000)

    assert store.head() == head


def test_the_same_key_of_two_merchants_names_two_payments(
    payments: PaymentService, merchant_id: UUID
) -> None:
    other_merchant = uuid4()
    mine = create(payments, merchant_id, "order-1")
    theirs = create(payments, other_merchant, "order-1")

    assert mine.value.id != theirs.value.id
    assert theirs.replayed is False


def test_an_unknown_token_is_refused_before_anything_is_written(
    payments: PaymentService, merchant_id: UUID, store: EventStore
) -> None:
    head = store.head()

    with pytest.raises(InvalidSource):
        create(payments, merchant_id, "order-1", source="tok_unknown")

    assert store.head() == head


def test_a_keyed_capture_retried_after_success_replays_instead_of_failing(
    payments: PaymentService, merchant_id: UUID, store: EventStore
) -> None:
    payment = create(payments, merchant_id, "order-1").value
    authorize(store, payment.id, merchant_id)
    request_hash = fingerprint("POST", "/capture", {"amount": 400})

    def capture() -> Outcome[Payment]:
        return payments.capture_payment(
            merchant_id=merchant_id,
            payment_id=payment.id,
            amount=Money(400, "USD"),
            idempotency_key="capture-1",
            request_hash=request_hash,
            meta=merchant_meta(merchant_id, "capture-1"),
        )

    first, second = capture(), capture()

    assert first.replayed is False
    assert second.replayed is True
    assert second.value.version == first.value.version
    assert (second.value.amount_captured, second.value.amount_capturable) == (400, 0)
    with pytest.raises(IllegalTransition, match="succeeded"):
        payments.capture_payment(
            merchant_id=merchant_id,
            payment_id=payment.id,
            amount=None,
            idempotency_key=None,
            request_hash="other",
            meta=merchant_meta(merchant_id),
        )


def test_a_payment_key_reused_for_a_refund_is_refused(
    payments: PaymentService, refunds: RefundService, merchant_id: UUID
) -> None:
    payment = create(payments, merchant_id, "order-1").value

    with pytest.raises(IdempotencyKeyReused):
        refunds.create_refund(
            merchant_id=merchant_id,
            payment_id=payment.id,
            amount=None,
            reason=None,
            idempotency_key="order-1",
            request_hash="refund-body",
            meta=merchant_meta(merchant_id, "order-1"),
        )


def test_another_merchants_payment_is_not_found(
    payments: PaymentService, merchant_id: UUID
) -> None:
    payment = create(payments, merchant_id, "order-1").value

    with pytest.raises(NotFound):
        payments.get_payment(merchant_id=uuid4(), payment_id=payment.id)
    assert payments.get_payment(merchant_id=None, payment_id=payment.id).id == payment.id


class SingleUseVault:
    """A vault whose tokens work once, as many real vaults' do."""

    def __init__(self) -> None:
        self.spent: set[str] = set()

    def describe(self, token: str) -> object:
        if token in self.spent:
            return None
        self.spent.add(token)
        from paysource.adapters.vault import TestCardVault  # noqa: PLC0415

        return TestCardVault().describe(token)


def test_a_retry_whose_token_is_spent_replays_the_payment_it_made(
    store: EventStore, merchant_id: UUID
) -> None:
    payments = PaymentService(store, SingleUseVault())  # type: ignore[arg-type]
    first = create(payments, merchant_id, "order-1")

    again = create(payments, merchant_id, "order-1")

    assert again.replayed is True
    assert again.value.id == first.value.id
    with pytest.raises(InvalidSource):
        create(payments, merchant_id, "order-2")  # a new payment with a spent token
