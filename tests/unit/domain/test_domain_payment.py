"""Payment: creation bounds and the authorization, capture and cancellation rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from domain_builders import (
    BLOCKED_RISK,
    NO_FEES,
    NORMAL_RISK,
    T0,
    VISA,
    authorized_payment,
    captured_payment,
    merchant_meta,
    new_payment,
    pending_event_names,
    state,
    usd,
)

from paysource.domain.errors import (
    AmountExceeded,
    DomainError,
    IllegalTransition,
    InvalidAmount,
    InvalidValue,
)
from paysource.domain.fees import FeeSchedule
from paysource.domain.money import Money
from paysource.domain.payment import (
    MAX_DESCRIPTION_LENGTH,
    MAX_PAYMENT_MINOR,
    CancellationReason,
    CaptureMethod,
    Payment,
    PaymentStatus,
)
from paysource.domain.risk import RiskAssessment, RiskOutcome

HOLD_TTL = timedelta(days=7)


def test_a_new_payment_is_processing_with_nothing_authorized_or_captured() -> None:
    payment = new_payment(usd(10_000), capture_method=CaptureMethod.AUTOMATIC)

    assert payment.status is PaymentStatus.PROCESSING
    assert payment.amount == usd(10_000)
    assert payment.capture_method is CaptureMethod.AUTOMATIC
    assert payment.card == VISA
    assert payment.amount_capturable == payment.amount_captured == payment.amount_refunded == 0
    assert not payment.is_final
    assert pending_event_names(payment) == ["Created"]


@pytest.mark.parametrize("amount_minor", [1, MAX_PAYMENT_MINOR])
def test_a_payment_accepts_one_minor_unit_up_to_ten_to_the_twelfth(amount_minor: int) -> None:
    assert new_payment(usd(amount_minor)).amount_minor == amount_minor


@pytest.mark.parametrize("amount_minor", [0, MAX_PAYMENT_MINOR + 1])
def test_a_payment_refuses_amounts_outside_one_to_ten_to_the_twelfth(amount_minor: int) -> None:
    with pytest.raises(InvalidAmount):
        new_payment(usd(amount_minor))


def test_a_payment_description_is_at_most_1000_characters() -> None:
    assert new_payment(description="d" * MAX_DESCRIPTION_LENGTH).description is not None

    with pytest.raises(InvalidValue) as refused:
        new_payment(description="d" * (MAX_DESCRIPTION_LENGTH + 1))
    assert refused.value.field == "description"


def test_a_payment_refuses_metadata_over_the_limits() -> None:
    with pytest.raises(InvalidValue):
        new_payment(metadata={"k": "v" * 501})


def test_a_normal_risk_assessment_is_recorded_and_leaves_the_payment_processing() -> None:
    payment = new_payment()
    elevated = RiskAssessment(RiskOutcome.ELEVATED, 50, ("amount_high",))

    payment.assess_risk(elevated, merchant_meta())

    assert payment.risk == elevated
    assert payment.status is PaymentStatus.PROCESSING


def test_a_blocked_risk_assessment_cancels_the_payment_for_risk() -> None:
    payment = new_payment()

    payment.assess_risk(BLOCKED_RISK, merchant_meta())

    assert payment.status is PaymentStatus.CANCELED
    assert payment.cancellation_reason is CancellationReason.RISK
    assert payment.amount_capturable == 0
    assert pending_event_names(payment) == ["Created", "RiskAssessed", "Canceled"]
    assert payment.pending_events[-1].released_minor == 0  # type: ignore[attr-defined]


def test_risk_is_assessed_once() -> None:
    payment = new_payment()
    payment.assess_risk(NORMAL_RISK, merchant_meta())

    with pytest.raises(IllegalTransition) as refused:
        payment.assess_risk(NORMAL_RISK, merchant_meta())

    assert refused.value.code == "risk_already_assessed"


def test_authorization_waits_for_the_risk_assessment() -> None:
    payment = new_payment()

    with pytest.raises(IllegalTransition) as refused:
        payment.authorize(authorization_code="A", acquirer_reference="r", meta=merchant_meta())

    assert refused.value.code == "risk_not_assessed"
    assert payment.status is PaymentStatus.PROCESSING


def test_authorization_holds_the_whole_amount_from_the_time_of_the_command() -> None:
    authorized_at = T0 + timedelta(minutes=5)

    payment = authorized_payment(usd(10_000), at=authorized_at)

    assert payment.status is PaymentStatus.REQUIRES_CAPTURE
    assert payment.amount_capturable == 10_000
    assert payment.authorized_at == authorized_at
    assert payment.acquirer_reference == "acq-1"


def test_a_payment_is_authorized_only_while_processing() -> None:
    payment = authorized_payment()

    with pytest.raises(IllegalTransition) as refused:
        payment.authorize(authorization_code="A", acquirer_reference="r", meta=merchant_meta())

    assert refused.value.code == "payment_not_processing"


def test_a_declined_payment_fails_with_the_acquirers_code() -> None:
    payment = new_payment()
    payment.assess_risk(NORMAL_RISK, merchant_meta())

    payment.decline(decline_code="insufficient_funds", message="no", meta=merchant_meta())

    assert payment.status is PaymentStatus.FAILED
    assert payment.decline_code == "insufficient_funds"
    assert payment.amount_capturable == 0


def test_an_authorized_payment_cannot_be_declined() -> None:
    with pytest.raises(IllegalTransition) as refused:
        authorized_payment().decline(decline_code="x", message="x", meta=merchant_meta())

    assert refused.value.code == "payment_not_processing"


def test_a_full_capture_takes_the_whole_hold_and_charges_the_fee() -> None:
    payment = authorized_payment(usd(10_000))

    payment.capture(None, FeeSchedule(290, {"USD": 30}), merchant_meta())

    assert payment.status is PaymentStatus.SUCCEEDED
    assert (payment.amount_captured, payment.amount_capturable) == (10_000, 0)
    assert payment.fee_minor == 320
    captured = payment.pending_events[-1]
    assert (captured.amount_minor, captured.fee_minor, captured.released_minor) == (  # type: ignore[attr-defined]
        10_000,
        320,
        0,
    )


def test_a_partial_capture_releases_the_rest_of_the_hold() -> None:
    payment = authorized_payment(usd(10_000))

    payment.capture(usd(6_000), FeeSchedule(290, {"USD": 30}), merchant_meta())

    assert (payment.amount_captured, payment.amount_capturable) == (6_000, 0)
    assert payment.fee_minor == 204  # 2.9% of 6000 is 174, plus 30
    assert payment.pending_events[-1].released_minor == 4_000  # type: ignore[attr-defined]


def test_a_payment_is_captured_once() -> None:
    payment = captured_payment(usd(10_000), captured=usd(6_000))

    with pytest.raises(IllegalTransition) as refused:
        payment.capture(usd(1_000), NO_FEES, merchant_meta())

    assert refused.value.code == "payment_not_capturable"
    assert payment.amount_captured == 6_000


def test_a_payment_that_is_not_authorized_cannot_be_captured() -> None:
    with pytest.raises(IllegalTransition) as refused:
        new_payment().capture(None, NO_FEES, merchant_meta())

    assert refused.value.code == "payment_not_capturable"


def test_capturing_more_than_authorized_is_refused_and_changes_nothing() -> None:
    payment = authorized_payment(usd(10_000))
    before = state(payment)

    with pytest.raises(AmountExceeded) as refused:
        payment.capture(usd(10_001), NO_FEES, merchant_meta())

    assert refused.value.code == "capture_exceeds_authorized"
    assert state(payment) == before


def test_capturing_in_another_currency_is_refused() -> None:
    payment = authorized_payment(usd(10_000))

    with pytest.raises(InvalidValue) as refused:
        payment.capture(Money(5_000, "EUR"), NO_FEES, merchant_meta())

    assert refused.value.field == "currency"
    assert payment.status is PaymentStatus.REQUIRES_CAPTURE


def test_capturing_zero_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        authorized_payment().capture(usd(0), NO_FEES, merchant_meta())


def test_canceling_an_authorized_payment_releases_the_whole_hold() -> None:
    payment = authorized_payment(usd(10_000))

    payment.cancel(merchant_meta())

    assert payment.status is PaymentStatus.CANCELED
    assert payment.cancellation_reason is CancellationReason.REQUESTED
    assert payment.amount_capturable == 0
    assert payment.pending_events[-1].released_minor == 10_000  # type: ignore[attr-defined]


def test_a_processing_payment_cannot_be_canceled() -> None:
    with pytest.raises(IllegalTransition) as refused:
        new_payment().cancel(merchant_meta())

    assert refused.value.code == "payment_not_cancelable"


def test_a_hold_expires_once_its_time_to_live_has_passed() -> None:
    payment = authorized_payment(usd(10_000), at=T0)

    payment.expire(now=T0 + HOLD_TTL, hold_ttl=HOLD_TTL, meta=merchant_meta(T0 + HOLD_TTL))

    assert payment.status is PaymentStatus.CANCELED
    assert payment.cancellation_reason is CancellationReason.EXPIRED
    assert payment.pending_events[-1].released_minor == 10_000  # type: ignore[attr-defined]


def test_a_hold_does_not_expire_before_its_time_to_live() -> None:
    payment = authorized_payment(at=T0)
    just_before = T0 + HOLD_TTL - timedelta(microseconds=1)

    with pytest.raises(IllegalTransition) as refused:
        payment.expire(now=just_before, hold_ttl=HOLD_TTL, meta=merchant_meta(just_before))

    assert refused.value.code == "hold_not_expired"
    assert payment.status is PaymentStatus.REQUIRES_CAPTURE


def test_only_a_hold_can_expire() -> None:
    later = T0 + 2 * HOLD_TTL

    with pytest.raises(IllegalTransition) as refused:
        new_payment().expire(now=later, hold_ttl=HOLD_TTL, meta=merchant_meta(later))

    assert refused.value.code == "payment_not_cancelable"


def _succeeded() -> Payment:
    return captured_payment()


def _failed() -> Payment:
    payment = new_payment()
    payment.decline(decline_code="do_not_honor", message="no", meta=merchant_meta())
    return payment


def _canceled_for_risk() -> Payment:
    payment = new_payment()
    payment.assess_risk(BLOCKED_RISK, merchant_meta())
    return payment


def _canceled_on_request() -> Payment:
    payment = authorized_payment()
    payment.cancel(merchant_meta())
    return payment


_LATE = T0 + timedelta(days=30)
COMMANDS: dict[str, Callable[[Payment], None]] = {
    "assess_risk": lambda p: p.assess_risk(NORMAL_RISK, merchant_meta()),
    "authorize": lambda p: p.authorize(
        authorization_code="A", acquirer_reference="r", meta=merchant_meta()
    ),
    "decline": lambda p: p.decline(decline_code="x", message="x", meta=merchant_meta()),
    "capture": lambda p: p.capture(None, NO_FEES, merchant_meta()),
    "cancel": lambda p: p.cancel(merchant_meta()),
    "expire": lambda p: p.expire(now=_LATE, hold_ttl=HOLD_TTL, meta=merchant_meta(_LATE)),
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize(
    "final_payment", [_succeeded, _failed, _canceled_for_risk, _canceled_on_request]
)
def test_a_final_payment_refuses_every_command_and_records_nothing(
    final_payment: Callable[[], Payment], command: Callable[[Payment], None]
) -> None:
    payment = final_payment()
    payment.collect_events()
    before = state(payment)

    with pytest.raises(DomainError):
        command(payment)

    assert payment.is_final
    assert state(payment) == before
    assert payment.pending_events == []
