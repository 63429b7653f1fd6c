"""The merchant fee schedule: basis points of the capture (rounded half-even) plus a
fixed part stated per currency."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.domain.currency import exponents
from paysource.domain.errors import InvalidCurrency, InvalidValue
from paysource.domain.fees import (
    MAX_BASIS_POINTS,
    MAX_FIXED_FEE_MINOR,
    FeeSchedule,
    default_fixed_minor,
)
from paysource.domain.money import MAX_AMOUNT_MINOR, Money
from paysource.domain.reference_values import units_per_usd


def test_the_default_schedule_is_2_9_percent_plus_usd_0_30() -> None:
    assert FeeSchedule().fee_for(Money(10_000, "USD")) == Money(320, "USD")


@pytest.mark.parametrize(
    ("basis_points", "captured", "fee"),
    [
        (5, 1_000, 0),  # 0.5 rounds to the even 0
        (15, 1_000, 2),  # 1.5 rounds to the even 2
        (25, 1_000, 2),  # 2.5 rounds to the even 2
        (35, 1_000, 4),  # 3.5 rounds to the even 4
        (4, 1_000, 0),  # 0.4 rounds down
        (6, 1_000, 1),  # 0.6 rounds up
        (290, 1_500, 44),  # 43.5 rounds to the even 44
        (290, 1_499, 43),  # 43.471 rounds down
    ],
)
def test_the_proportional_fee_rounds_half_even_to_the_minor_unit(
    basis_points: int, captured: int, fee: int
) -> None:
    schedule = FeeSchedule(basis_points, {"USD": 0})

    assert schedule.fee_for(Money(captured, "USD")).amount_minor == fee


def test_the_fixed_fee_is_stated_in_each_currencys_own_minor_units() -> None:
    schedule = FeeSchedule(0, {"USD": 30, "JPY": 40, "KWD": 100})

    assert schedule.fee_for(Money(100_000, "USD")) == Money(30, "USD")  # $0.30
    assert schedule.fee_for(Money(100_000, "JPY")) == Money(40, "JPY")  # ¥40
    assert schedule.fee_for(Money(100_000, "KWD")) == Money(100, "KWD")  # 0.100 KWD


def test_a_currency_the_merchant_left_out_takes_the_platforms_default() -> None:
    schedule = FeeSchedule(0, {"JPY": 40})

    assert schedule.fee_for(Money(100_000, "KWD")).amount_minor == default_fixed_minor("KWD")
    assert schedule.fee_for(Money(100_000, "EUR")).amount_minor == default_fixed_minor("EUR")


def test_the_default_fixed_fee_is_not_the_same_number_of_minor_units_everywhere() -> None:
    # The bug of issue 11: 30 was $0.30 but ¥30 and 0.030 KWD.
    assert default_fixed_minor("USD") == 30
    assert default_fixed_minor("JPY") == 46  # ¥46.5 at 155 per USD, half-even
    assert default_fixed_minor("KWD") == 92  # 0.0921 KWD at 0.307 per USD


@pytest.mark.parametrize("currency", sorted(exponents()))
def test_the_default_fixed_fee_covers_every_accepted_currency_at_about_usd_0_30(
    currency: str,
) -> None:
    fixed = default_fixed_minor(currency)
    exact = (
        Fraction(30)
        * Fraction(units_per_usd(currency))
        * Fraction(10) ** (exponents()[currency] - 2)
    )

    assert fixed > 0
    assert abs(fixed - exact) <= Fraction(1, 2)


def test_the_fee_never_exceeds_the_captured_amount() -> None:
    assert FeeSchedule(290, {"USD": 30}).fee_for(Money(20, "USD")) == Money(20, "USD")
    most = FeeSchedule(MAX_BASIS_POINTS, {"USD": MAX_FIXED_FEE_MINOR})
    assert most.fee_for(Money(1, "USD")) == Money(1, "USD")


@given(
    basis_points=st.integers(0, MAX_BASIS_POINTS),
    fixed=st.integers(0, MAX_FIXED_FEE_MINOR),
    captured=st.integers(0, MAX_AMOUNT_MINOR),
    currency=st.sampled_from(["EUR", "JPY", "KWD", "CLF"]),
)
@settings(max_examples=200)
def test_the_fee_is_between_the_smaller_of_fixed_and_capture_and_the_capture(
    basis_points: int, fixed: int, captured: int, currency: str
) -> None:
    fee = FeeSchedule(basis_points, {currency: fixed}).fee_for(Money(captured, currency))

    assert min(fixed, captured) <= fee.amount_minor <= captured


def test_overrides_are_kept_sorted_and_read_only() -> None:
    schedule = FeeSchedule(100, {"USD": 30, "JPY": 40})

    assert list(schedule.fixed_overrides) == ["JPY", "USD"]
    with pytest.raises(TypeError):
        schedule.fixed_overrides["EUR"] = 1  # type: ignore[index]


@pytest.mark.parametrize("basis_points", [-1, MAX_BASIS_POINTS + 1, 2.9, True, "290"], ids=repr)
def test_a_schedule_refuses_basis_points_out_of_bounds_or_not_int(basis_points: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        FeeSchedule(basis_points=basis_points)  # type: ignore[arg-type]

    assert refused.value.field == "fee_basis_points"


@pytest.mark.parametrize("fixed", [-1, MAX_FIXED_FEE_MINOR + 1, 30.0, False], ids=repr)
def test_a_schedule_refuses_a_fixed_fee_out_of_bounds_or_not_int(fixed: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        FeeSchedule(290, {"USD": fixed})  # type: ignore[dict-item]

    assert refused.value.field == "fee_fixed"


def test_a_schedule_refuses_a_fixed_fee_in_an_unknown_currency() -> None:
    with pytest.raises(InvalidCurrency):
        FeeSchedule(290, {"XXX": 30})
