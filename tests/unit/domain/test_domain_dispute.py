"""The Dispute aggregate: lifecycle, amount limits, evidence limits, fee, postings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from domain_builders import T0, captured_payment, dispute_of, merchant_meta, open_refund, usd

from paysource.domain import ledger
from paysource.domain.dispute import (
    RESPONSE_WINDOW,
    DisputeStatus,
    dispute_id,
)
from paysource.domain.dispute_evidence import MAX_FIELD_LENGTH, MAX_TOTAL_LENGTH
from paysource.domain.dispute_fee import dispute_fee
from paysource.domain.errors import (
    AmountExceeded,
    CardNumberRefused,
    IllegalTransition,
    InvalidValue,
)
from paysource.domain.ledger import Phase, Side
from paysource.domain.money import Money
from paysource.domain.settlement import Item, ItemKind


def test_a_dispute_takes_all_that_was_captured_and_not_refunded_by_default() -> None:
    payment = captured_payment(usd(10_000), confirmed=True)
    refund = open_refund(payment, usd(2_500))
    refund.succeed(payment, acquirer_reference="r", meta=merchant_meta())
    dispute = dispute_of(payment)
    assert dispute.amount_minor == 7_500
    assert dispute.fee_minor == 1_500
    assert dispute.status is DisputeStatus.NEEDS_RESPONSE
    assert dispute.id == dispute_id(payment.id)
    assert dispute.due_by == T0 + RESPONSE_WINDOW


def test_a_dispute_cannot_exceed_what_remains_captured() -> None:
    payment = captured_payment(usd(10_000), confirmed=True)
    with pytest.raises(AmountExceeded) as refused:
        dispute_of(payment, usd(10_001))
    assert refused.value.code == "dispute_exceeds_captured"


def test_an_uncaptured_payment_cannot_be_disputed() -> None:
    from domain_builders import authorized_payment  # noqa: PLC0415

    with pytest.raises(IllegalTransition) as refused:
        dispute_of(authorized_payment(usd(1_000)))
    assert refused.value.code == "payment_not_disputable"


def test_evidence_moves_it_under_review_then_it_is_won() -> None:
    dispute = dispute_of(captured_payment(usd(5_000), confirmed=True))
    dispute.submit_evidence({"shipping_tracking": "1Z999"}, merchant_meta())
    assert dispute.status is DisputeStatus.UNDER_REVIEW
    dispute.win(outcome_reason="acquirer_decision", meta=merchant_meta())
    assert dispute.status is DisputeStatus.WON
    with pytest.raises(IllegalTransition):
        dispute.lose(outcome_reason="acquirer_decision", meta=merchant_meta())


def test_evidence_is_taken_once_and_not_after_the_due_date() -> None:
    dispute = dispute_of(captured_payment(usd(5_000), confirmed=True))
    late = merchant_meta(T0 + RESPONSE_WINDOW + timedelta(seconds=1))
    with pytest.raises(IllegalTransition) as refused:
        dispute.submit_evidence({"uncategorized_text": "x"}, late)
    assert refused.value.code == "dispute_past_due"
    dispute.submit_evidence({"uncategorized_text": "x"}, merchant_meta())
    with pytest.raises(IllegalTransition) as again:
        dispute.submit_evidence({"uncategorized_text": "y"}, merchant_meta())
    assert again.value.code == "dispute_not_awaiting_evidence"


def test_a_dispute_without_evidence_past_its_due_date_expires_lost() -> None:
    dispute = dispute_of(captured_payment(usd(5_000), confirmed=True))
    with pytest.raises(IllegalTransition):
        dispute.expire(merchant_meta(T0 + timedelta(days=1)))
    dispute.expire(merchant_meta(T0 + RESPONSE_WINDOW + timedelta(seconds=1)))
    assert dispute.status is DisputeStatus.LOST
    assert dispute.outcome_reason == "no_response"


@pytest.mark.parametrize(
    ("evidence", "error"),
    [
        ({}, InvalidValue),
        ({"photo": "x"}, InvalidValue),
        ({"uncategorized_text": "   "}, InvalidValue),
        ({"uncategorized_text": "x" * (MAX_FIELD_LENGTH + 1)}, InvalidValue),
        (
            dict.fromkeys(
                (
                    "product_description",
                    "customer_communication",
                    "refund_policy",
                    "shipping_tracking",
                    "uncategorized_text",
                ),
                "x" * MAX_FIELD_LENGTH,
            ),
            InvalidValue,
        ),
        ({"customer_communication": "card 4242 4242 4242 4242"}, CardNumberRefused),
    ],
)
def test_evidence_beyond_its_limits_is_refused(
    evidence: dict[str, str], error: type[Exception]
) -> None:
    assert 5 * MAX_FIELD_LENGTH > MAX_TOTAL_LENGTH  # the total limit case means something
    dispute = dispute_of(captured_payment(usd(5_000), confirmed=True))
    with pytest.raises(error):
        dispute.submit_evidence(evidence, merchant_meta())
    assert dispute.status is DisputeStatus.NEEDS_RESPONSE


@pytest.mark.parametrize(
    ("currency", "fee"), [("USD", 1_500), ("JPY", 15), ("KWD", 15_000), ("CLF", 150_000)]
)
def test_the_dispute_fee_is_fifteen_major_units_of_the_currency(currency: str, fee: int) -> None:
    assert dispute_fee(currency) == Money(fee, currency)


def test_opening_takes_amount_and_fee_from_the_merchant_and_winning_gives_them_back() -> None:
    dispute = dispute_of(captured_payment(usd(5_000), confirmed=True))
    taken = ledger.dispute_opened(dispute.merchant_id, "USD", 5_000, 1_500)
    back = ledger.dispute_won(dispute.merchant_id, "USD", 5_000, 1_500)
    assert taken is not None
    assert back is not None
    balance = ledger.Account.balance(dispute.merchant_id)
    assert {(x.side, x.amount_minor) for x in taken.lines if x.account == balance} == {
        (Side.DEBIT, 5_000),
        (Side.DEBIT, 1_500),
    }
    assert {(x.side, x.amount_minor) for x in back.lines if x.account == balance} == {
        (Side.CREDIT, 5_000),
        (Side.CREDIT, 1_500),
    }
    assert all(line.phase is Phase.POSTED for line in taken.lines + back.lines)


def test_dispute_items_net_against_a_settlement() -> None:
    opened = Item(ItemKind.DISPUTE, dispute_id(captured_payment().id), None, 5_000, 1_500)
    won = Item(ItemKind.DISPUTE_WON, opened.ref_id, None, 5_000, 1_500)
    assert opened.net_minor == -6_500
    assert won.net_minor == 6_500
    assert opened.claim_id != won.claim_id
