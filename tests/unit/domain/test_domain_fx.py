"""Settlements converted into the merchant's settlement currency: the recorded rate,
the half-even figures, and ledger entries that balance in each currency."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from domain_builders import MERCHANT_ID, merchant_meta

from paysource.domain import ledger
from paysource.domain.errors import IllegalTransition, InvalidValue
from paysource.domain.fees import FeeSchedule
from paysource.domain.fx import ConversionOutOfRange, conversion
from paysource.domain.ledger import AccountKind, Entry, Phase, Side
from paysource.domain.merchant import Merchant, stored_fees
from paysource.domain.money import MAX_AMOUNT_MINOR
from paysource.domain.rates import Rate, check_rate
from paysource.domain.settlement import Item, ItemKind, Settlement, SettlementStatus

T = datetime(2026, 12, 1, tzinfo=UTC)
USD_EUR = Rate("USD", "EUR", Decimal("0.9215"), T)


def closed(*nets: int) -> Settlement:
    settlement = Settlement.open(
        merchant_id=MERCHANT_ID, currency="USD", cutoff=T, meta=merchant_meta()
    )
    items = [Item(ItemKind.CAPTURE, uuid4(), uuid4(), net + 30, 30) for net in nets]
    settlement.close(items, merchant_meta())
    return settlement


def test_a_conversion_rounds_each_item_and_the_payout_half_even_and_keeps_the_difference() -> None:
    # 0.9215 x 1001 = 922.4215 → 922, x1003 = 924.2645 → 924, x2004 = 1846.686 → 1847.
    found = conversion(USD_EUR, [1_001, 1_003], 2_004)

    assert found.item_nets == (922, 924)
    assert (found.items_minor, found.payout_minor) == (1_846, 1_847)
    assert found.fx_difference_minor == 1
    assert (found.pair, found.rate, found.rate_valid_from) == ("USD/EUR", Decimal("0.9215"), T)


def test_a_converted_settlement_records_the_rate_as_a_string_and_pays_out_in_its_currency() -> None:
    settlement = closed(1_001, 1_003)

    settlement.convert(USD_EUR, merchant_meta())

    event = settlement.collect_events()[-1]
    assert isinstance(event, Settlement.Converted)
    assert (event.rate, event.pair, event.rate_valid_from) == ("0.9215", "USD/EUR", T)
    assert (settlement.payout_currency, settlement.payout_minor) == ("EUR", 1_847)
    assert (settlement.currency, settlement.net_minor) == ("USD", 2_004)


def test_only_a_closed_settlement_in_the_rates_base_converts_and_only_once() -> None:
    settlement = closed(1_000)
    with pytest.raises(IllegalTransition):
        settlement.convert(Rate("GBP", "EUR", Decimal("1.1"), T), merchant_meta())
    settlement.convert(USD_EUR, merchant_meta())
    with pytest.raises(IllegalTransition):
        settlement.convert(USD_EUR, merchant_meta())


def test_a_settlement_waits_for_a_rate_open_and_says_why_once() -> None:
    settlement = Settlement.open(
        merchant_id=MERCHANT_ID, currency="USD", cutoff=T, meta=merchant_meta()
    )
    settlement.await_rate(pair="USD/EUR", reason="no USD/EUR rate", meta=merchant_meta())
    settlement.await_rate(pair="USD/EUR", reason="no USD/EUR rate", meta=merchant_meta())

    assert settlement.status is SettlementStatus.OPEN
    assert settlement.waiting_reason == "no USD/EUR rate"
    assert [type(e).__name__ for e in settlement.collect_events()] == ["Opened", "RateAwaited"]


def test_a_failed_converted_settlement_reverses_the_conversion_before_failing() -> None:
    settlement = closed(5_000)
    settlement.convert(USD_EUR, merchant_meta())
    settlement.mark_failed(reason="account_closed", meta=merchant_meta())

    names = [type(e).__name__ for e in settlement.collect_events()]
    assert names[-2:] == ["ConversionReversed", "Failed"]
    assert settlement.status is SettlementStatus.FAILED


def balances(*entries: Entry | None) -> dict[tuple[str, str], int]:
    """Posted debits - credits per (account kind, currency)."""
    found: dict[tuple[str, str], int] = defaultdict(int)
    for posting in entries:
        assert posting is not None
        for line in posting.lines:
            if line.phase is Phase.POSTED:
                sign = 1 if line.side is Side.DEBIT else -1
                found[(str(line.account.kind), line.currency_in(posting))] += (
                    sign * line.amount_minor
                )
    return {key: value for key, value in found.items() if value}


@pytest.mark.parametrize("difference", [1, -1, 0])
def test_the_conversion_entry_balances_per_currency_and_puts_the_difference_aside(
    difference: int,
) -> None:
    items, payout = 1_846, 1_846 + difference
    posting = ledger.fx_converted(
        MERCHANT_ID, "USD", "EUR", net_minor=2_004, items_minor=items, payout_minor=payout
    )

    assert posting is not None  # Entry checked: balanced per currency and phase
    moved = balances(posting)
    assert moved[("merchant_balance", "USD")] == 2_004  # left the USD balance
    assert moved[("fx_conversion", "USD")] == -2_004
    assert moved[("fx_conversion", "EUR")] == items
    assert moved[("merchant_balance", "EUR")] == -payout  # credited in EUR
    assert moved.get(("fx_gains_losses", "EUR"), 0) == difference


def test_a_reversal_undoes_every_posted_line_of_the_conversion() -> None:
    figures = {"net_minor": 2_004, "items_minor": 1_846, "payout_minor": 1_847}
    there = ledger.fx_converted(MERCHANT_ID, "USD", "EUR", **figures)
    back = ledger.fx_reversed(MERCHANT_ID, "USD", "EUR", **figures)

    assert balances(there, back) == {}


def test_an_entry_unbalanced_in_one_currency_is_refused() -> None:
    balance = ledger.Account.balance(MERCHANT_ID)
    fx = ledger.Account.fx_conversion()
    lines = (
        ledger.Line(balance, Side.DEBIT, Phase.POSTED, 100),
        ledger.Line(fx, Side.CREDIT, Phase.POSTED, 100, "EUR"),
    )
    with pytest.raises(ledger.UnbalancedEntry):
        Entry("fx_conversion", "USD", lines)
    assert {AccountKind.FX_CONVERSION, AccountKind.FX_GAINS_LOSSES} <= set(AccountKind)


def test_items_that_round_below_zero_under_a_positive_net_still_post_balanced() -> None:
    # 1 fils is half a yen (half-even: 0), -3 fils -1.5 yen (-2); the net, 2 fils, is 1.
    found = conversion(Rate("KWD", "JPY", Decimal(500), T), [1, 1, 1, 1, 1, -3], 2)
    assert (found.items_minor, found.payout_minor, found.fx_difference_minor) == (-2, 1, 3)
    figures = {"net_minor": 2, "items_minor": -2, "payout_minor": 1}

    there = ledger.fx_converted(MERCHANT_ID, "KWD", "JPY", **figures)
    back = ledger.fx_reversed(MERCHANT_ID, "KWD", "JPY", **figures)

    moved = balances(there)
    assert moved[("fx_conversion", "JPY")] == -2  # the items took 2 yen from fx_conversion
    assert moved[("fx_gains_losses", "JPY")] == 3
    assert moved[("merchant_balance", "JPY")] == -1  # credited the payout
    assert balances(there, back) == {}


def test_a_payout_above_the_largest_amount_is_refused_before_anything_is_recorded() -> None:
    usd_lbp = Rate("USD", "LBP", Decimal(89500), T)
    largest = MAX_AMOUNT_MINOR // 89_500  # cents: about 111.7 million dollars
    assert conversion(usd_lbp, [largest], largest).payout_minor <= MAX_AMOUNT_MINOR
    with pytest.raises(ConversionOutOfRange, match="USD/LBP"):
        conversion(usd_lbp, [largest + 1], largest + 1)
    settlement = closed(largest - 29, 30)  # nets: the two items sum to `largest + 1`
    settlement.collect_events()

    with pytest.raises(ConversionOutOfRange):
        settlement.convert(usd_lbp, merchant_meta())

    assert settlement.collect_events() == []
    assert (settlement.status, settlement.conversion) == (SettlementStatus.CLOSED, None)


def test_an_item_converted_beyond_the_largest_amount_is_refused_even_if_the_net_is_not() -> None:
    usd_lbp = Rate("USD", "LBP", Decimal(89500), T)
    huge = MAX_AMOUNT_MINOR // 89_500 + 1
    with pytest.raises(ConversionOutOfRange):
        conversion(usd_lbp, [huge, -huge + 100], 100)


@pytest.mark.parametrize("text", ["0", "-1", "1e3", "0.9.2", " 1", "NaN", "1,5", "", "abc"])
def test_a_rate_is_a_positive_plain_decimal_string(text: str) -> None:
    with pytest.raises(InvalidValue):
        check_rate(text)


def test_a_rate_keeps_every_digit() -> None:
    assert check_rate("0.921534") == Decimal("0.921534")


def test_an_old_merchant_events_single_fixed_fee_becomes_its_settlement_currencys() -> None:
    # Events stored before fees were per currency have no fee_fixed_by_currency.
    assert stored_fees("JPY", 290, 30, None).fixed_overrides == {"JPY": 30}
    assert stored_fees("JPY", 290, 30, {"USD": 25}).fixed_overrides == {"USD": 25}


def test_an_old_registered_event_still_loads() -> None:
    merchant = Merchant.register(
        merchant_id=uuid4(),
        name="Old",
        email=None,
        settlement_currency="EUR",
        fees=FeeSchedule(290, {"USD": 10}),
        request_hash="h",
        meta=merchant_meta(),
    )
    [event] = merchant.collect_events()
    # As stored before fees were per currency: one fixed fee, no per-currency field.
    del event.__dict__["fee_fixed_by_currency"]
    event.__dict__["fee_fixed_minor"] = 25

    replayed = event.mutate(None)

    assert isinstance(replayed, Merchant)
    assert replayed.fees.fixed_overrides == {"EUR": 25}


def waiting(cutoff: datetime, currency: str = "USD") -> Settlement:
    settlement = Settlement.open(
        merchant_id=MERCHANT_ID, currency=currency, cutoff=cutoff, meta=merchant_meta()
    )
    settlement.await_rate(pair=f"{currency}/EUR", reason="no rate", meta=merchant_meta())
    return settlement


def test_only_a_later_closed_settlement_of_the_same_pair_supersedes_a_waiting_one() -> None:
    earlier, later = waiting(T), closed(5_000)  # `closed` is of T too
    with pytest.raises(IllegalTransition):
        earlier.supersede(later, merchant_meta())  # not later
    with pytest.raises(IllegalTransition):
        earlier.supersede(waiting(T.replace(day=2)), merchant_meta())  # still open itself
    with pytest.raises(IllegalTransition):
        earlier.supersede(waiting(T.replace(day=2), "GBP"), merchant_meta())

    successor = Settlement.open(
        merchant_id=MERCHANT_ID, currency="USD", cutoff=T.replace(day=2), meta=merchant_meta()
    )
    successor.close([Item(ItemKind.CAPTURE, uuid4(), None, 5_000, 0)], merchant_meta())
    earlier.supersede(successor, merchant_meta())

    assert (earlier.status, earlier.superseded_by) == (SettlementStatus.SUPERSEDED, successor.id)
    assert earlier.waiting_reason is None
    with pytest.raises(IllegalTransition):
        earlier.close([Item(ItemKind.CAPTURE, uuid4(), None, 5_000, 0)], merchant_meta())
