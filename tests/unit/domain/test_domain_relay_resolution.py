"""A refused capture: held, then retried or reversed; the reversal's posting and the
correction item that follows a reversal of money already paid out."""

from __future__ import annotations

from uuid import uuid4

import pytest
from domain_builders import T0, captured_payment, merchant_meta, open_refund, replayed, state, usd

from paysource.domain import ledger
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.domain.errors import CardNumberRefused, IllegalTransition, InvalidValue
from paysource.domain.fees import FeeSchedule
from paysource.domain.ledger import Side
from paysource.domain.payment import Payment, SettlementHold
from paysource.domain.settlement import Item, ItemKind, Settlement, SettlementStatus

FEES = FeeSchedule(290, {"USD": 30})


def refused(amount: int = 10_000) -> Payment:
    payment = captured_payment(usd(amount), fees=FEES)
    payment.record_relay_failure(operation="capture", reason="lapsed", meta=merchant_meta())
    return payment


def test_a_refused_capture_holds_the_payment_and_a_refused_void_does_not() -> None:
    voided = captured_payment(usd(500))
    voided.record_relay_failure(operation="void", reason="x", meta=merchant_meta())

    assert refused().settlement_hold is SettlementHold.CAPTURE_REFUSED
    assert voided.settlement_hold is None


def test_a_held_payment_cannot_be_refunded() -> None:
    with pytest.raises(IllegalTransition) as refusal:
        open_refund(refused())
    assert refusal.value.code == "payment_capture_refused"


def test_a_retry_lifts_the_hold_only_when_the_acquirer_captures() -> None:
    payment = refused()

    payment.record_relay_retry(
        succeeded=False, reason="ops", failure="lapsed", meta=merchant_meta()
    )
    assert payment.settlement_hold is SettlementHold.CAPTURE_REFUSED
    assert payment.relay_resolution == {
        "action": "retry",
        "outcome": "refused",
        "reason": "ops",
        "failure": "lapsed",
    }
    payment.record_relay_retry(succeeded=True, reason="ops 2", failure="", meta=merchant_meta())

    assert payment.settlement_hold is None
    assert payment.relay_resolution["outcome"] == "captured"  # type: ignore[index]
    assert payment.amount_refundable == 10_000
    assert state(replayed(payment)) == state(payment)


def test_a_reversal_is_final_and_leaves_nothing_refundable() -> None:
    payment = refused()
    settled_in = uuid4()

    payment.reverse_capture(reason="lapsed hold", settled_in=settled_in, meta=merchant_meta())

    assert (payment.settlement_hold, payment.amount_reversed) == (None, 10_000)
    assert payment.amount_refundable == 0
    reversed_event = payment.pending_events[-1]
    assert isinstance(reversed_event, Payment.CaptureReversed)
    assert (reversed_event.fee_minor, reversed_event.settled_in) == (
        FEES.fee_for(usd(10_000)).amount_minor,
        settled_in,
    )
    with pytest.raises(IllegalTransition) as again:
        payment.reverse_capture(reason="again", settled_in=None, meta=merchant_meta())
    assert again.value.code == "relay_not_held"
    assert state(replayed(payment)) == state(payment)


def test_only_a_held_payment_without_refunds_can_be_resolved() -> None:
    fine = captured_payment(usd(1_000))
    with pytest.raises(IllegalTransition, match="no unresolved relay failure"):
        fine.record_relay_retry(succeeded=True, reason="x", failure="", meta=merchant_meta())
    refunded = captured_payment(usd(1_000))
    open_refund(refunded, usd(100))
    refunded.record_relay_failure(operation="capture", reason="late", meta=merchant_meta())
    with pytest.raises(IllegalTransition) as refusal:
        refunded.reverse_capture(reason="x", settled_in=None, meta=merchant_meta())
    assert refusal.value.code == "payment_has_refunds"


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("", InvalidValue),
        ("   ", InvalidValue),
        ("x" * 501, InvalidValue),
        ("card 4242424242424242", CardNumberRefused),
    ],
)
def test_a_resolution_needs_a_short_plain_reason(reason: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        refused().reverse_capture(reason=reason, settled_in=None, meta=merchant_meta())


def test_the_reversal_posting_balances_and_takes_back_the_capture_less_its_fee() -> None:
    merchant = uuid4()
    entry = ledger.capture_reversed(merchant, "USD", captured_minor=10_000, fee_minor=320)

    assert entry is not None
    balance = ledger.Account.balance(merchant)
    net = sum(
        (line.amount_minor if line.side is Side.CREDIT else -line.amount_minor)
        for line in entry.lines
        if line.account == balance
    )
    assert net == -(10_000 - 320)


def test_a_correction_is_a_debit_counted_in_carried_in() -> None:
    settlement = Settlement.open(
        merchant_id=uuid4(), currency="USD", cutoff=T0, meta=merchant_meta()
    )
    capture = Item(ItemKind.CAPTURE, uuid4(), uuid4(), 20_000, 610)
    correction = Item(ItemKind.CORRECTION, uuid4(), uuid4(), -9_680)

    settlement.close([capture, correction], merchant_meta())

    assert (settlement.gross_minor, settlement.fees_minor) == (20_000, 610)
    assert (settlement.carried_in_minor, settlement.net_minor) == (-9_680, 20_000 - 610 - 9_680)
    assert settlement.status is SettlementStatus.CLOSED
    assert ItemKind.CORRECTION.value == "correction"


def test_a_payment_whose_capture_was_refused_cannot_be_disputed() -> None:
    # The acquirer holds none of its money: a dispute would take from the merchant an
    # amount the reversal takes again.
    held = refused()
    reversed_payment = refused()
    reversed_payment.reverse_capture(reason="lapsed", settled_in=None, meta=merchant_meta())

    for payment in (held, reversed_payment):
        with pytest.raises(IllegalTransition) as refusal:
            Dispute.open(
                payment=payment,
                amount=None,
                reason=DisputeReason.FRAUDULENT,
                source="admin",
                request_hash="h",
                meta=merchant_meta(),
            )
        assert refusal.value.code == "payment_capture_refused"
