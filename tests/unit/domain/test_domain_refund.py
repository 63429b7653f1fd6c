"""Refunds: reserved on the payment when opened, settled or released by the acquirer."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest
from domain_builders import (
    BLOCKED_RISK,
    authorized_payment,
    captured_payment,
    merchant_meta,
    new_payment,
    open_refund,
    pending_event_names,
    state,
    usd,
)

from paysource.domain.errors import AmountExceeded, IllegalTransition, InvalidAmount, InvalidValue
from paysource.domain.money import Money
from paysource.domain.payment import Payment
from paysource.domain.refund import Refund, RefundReason, RefundStatus


def succeed(refund: Refund, payment: Payment) -> None:
    refund.succeed(payment, acquirer_reference="acq-r", meta=merchant_meta())


def fail(refund: Refund, payment: Payment) -> None:
    refund.fail(payment, failure_code="expired_card", meta=merchant_meta())


def test_opening_a_refund_reserves_its_amount_on_the_payment() -> None:
    payment = captured_payment(usd(10_000))

    refund = open_refund(payment, usd(3_000))

    assert refund.status is RefundStatus.PENDING
    assert (refund.amount, refund.payment_id, refund.merchant_id) == (
        usd(3_000),
        payment.id,
        payment.merchant_id,
    )
    assert payment.pending_refunds == {refund.id: 3_000}
    assert (payment.amount_refund_pending, payment.amount_refundable) == (3_000, 7_000)
    assert pending_event_names(payment)[-1] == "RefundReserved"


def test_a_refund_without_an_amount_takes_all_that_remains_refundable() -> None:
    payment = captured_payment(usd(10_000), captured=usd(6_000))
    open_refund(payment, usd(1_000))

    refund = open_refund(payment)

    assert refund.amount_minor == 5_000
    assert payment.amount_refundable == 0


def test_a_refund_keeps_its_reason() -> None:
    payment = captured_payment()
    refund = Refund.open(
        refund_id=uuid4(),
        payment=payment,
        amount=None,
        reason=RefundReason.DUPLICATE,
        request_hash="h",
        meta=merchant_meta(),
    )

    assert refund.reason is RefundReason.DUPLICATE


def test_pending_and_succeeded_refunds_never_exceed_the_captured_amount() -> None:
    payment = captured_payment(usd(10_000), captured=usd(6_000))
    succeed(open_refund(payment, usd(4_000)), payment)
    open_refund(payment, usd(2_000))
    before = state(payment)

    with pytest.raises(AmountExceeded) as refused:
        open_refund(payment, usd(1))

    assert refused.value.code == "refund_exceeds_captured"
    assert state(payment) == before
    assert payment.amount_refunded + payment.amount_refund_pending == 6_000


def test_a_fully_refunded_payment_refuses_a_refund_of_what_remains() -> None:
    payment = captured_payment()
    succeed(open_refund(payment), payment)

    with pytest.raises(AmountExceeded):
        open_refund(payment)


def _processing() -> Payment:
    return new_payment()


def _canceled() -> Payment:
    payment = new_payment()
    payment.assess_risk(BLOCKED_RISK, merchant_meta())
    return payment


def _failed() -> Payment:
    payment = new_payment()
    payment.decline(decline_code="x", message="x", meta=merchant_meta())
    return payment


@pytest.mark.parametrize("unsettled", [_processing, authorized_payment, _canceled, _failed])
def test_only_a_succeeded_payment_can_be_refunded(unsettled: Callable[[], Payment]) -> None:
    payment = unsettled()

    with pytest.raises(IllegalTransition) as refused:
        open_refund(payment, usd(1))

    assert refused.value.code == "payment_not_refundable"
    assert payment.pending_refunds == {}


def test_a_refund_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidValue) as refused:
        open_refund(captured_payment(), Money(100, "EUR"))

    assert refused.value.field == "currency"


def test_a_refund_of_zero_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        open_refund(captured_payment(), usd(0))


def test_a_succeeded_refund_moves_its_reservation_to_refunded() -> None:
    payment = captured_payment(usd(10_000))
    refund = open_refund(payment, usd(3_000))

    succeed(refund, payment)

    assert refund.status is RefundStatus.SUCCEEDED
    assert refund.acquirer_reference == "acq-r"
    assert (payment.amount_refunded, payment.amount_refund_pending) == (3_000, 0)
    assert payment.amount_refundable == 7_000
    assert pending_event_names(payment)[-1] == "RefundSettled"


def test_a_failed_refund_releases_its_reservation() -> None:
    payment = captured_payment(usd(10_000))
    refund = open_refund(payment, usd(3_000))

    fail(refund, payment)

    assert refund.status is RefundStatus.FAILED
    assert refund.failure_code == "expired_card"
    assert (payment.amount_refunded, payment.amount_refund_pending) == (0, 0)
    assert payment.amount_refundable == 10_000
    assert pending_event_names(payment)[-1] == "RefundReleased"


@pytest.mark.parametrize(
    ("first", "second"), [(succeed, succeed), (succeed, fail), (fail, succeed), (fail, fail)]
)
def test_a_refund_is_settled_or_released_exactly_once(
    first: Callable[[Refund, Payment], None], second: Callable[[Refund, Payment], None]
) -> None:
    payment = captured_payment(usd(10_000))
    refund = open_refund(payment, usd(3_000))
    first(refund, payment)
    before = (state(payment), state(refund))

    with pytest.raises(IllegalTransition) as refused:
        second(refund, payment)

    assert refused.value.code == "refund_not_pending"
    assert (state(payment), state(refund)) == before


def test_a_refund_cannot_settle_against_a_payment_that_does_not_hold_its_reservation() -> None:
    payment, other = captured_payment(), captured_payment()
    refund = open_refund(payment, usd(1_000))

    with pytest.raises(IllegalTransition):
        succeed(refund, other)

    assert refund.status is RefundStatus.PENDING
    assert other.amount_refunded == 0
