"""The merchant fee schedule: basis points of the capture plus a fixed part."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.domain.errors import InvalidValue
from paysource.domain.fees import MAX_BASIS_POINTS, MAX_FIXED_FEE_MINOR, FeeSchedule
from paysource.domain.money import MAX_AMOUNT_MINOR, Money


def test_the_default_schedule_is_2_9_percent_plus_30_minor_units() -> None:
    assert FeeSchedule().fee_for(Money(10_000, "USD")) == Money(320, "USD")


@pytest.mark.parametrize(
    ("basis_points", "captured", "fee"),
    [
        (5, 1_000, 1),  # 0.5 rounds up
        (4, 1_000, 0),  # 0.4 rounds down
        (290, 1_500, 44),  # 43.5 rounds up
        (290, 1_499, 43),  # 43.471 rounds down
        (15, 1_000, 2),  # 1.5 rounds up, not to even
        (25, 1_000, 3),  # 2.5 rounds up, not to even
    ],
)
def test_the_proportional_fee_rounds_half_up_to_the_minor_unit(
    basis_points: int, captured: int, fee: int
) -> None:
    schedule = FeeSchedule(basis_points=basis_points, fixed_minor=0)

    assert schedule.fee_for(Money(captured, "USD")).amount_minor == fee


def test_the_fee_never_exceeds_the_captured_amount() -> None:
    assert FeeSchedule(basis_points=290, fixed_minor=30).fee_for(Money(20, "USD")) == Money(
        20, "USD"
    )
    assert FeeSchedule(MAX_BASIS_POINTS, MAX_FIXED_FEE_MINOR).fee_for(Money(1, "USD")) == Money(
        1, "USD"
    )


def test_the_fee_is_in_the_currency_of_the_capture() -> None:
    assert FeeSchedule().fee_for(Money(1_000, "JPY")).currency == "JPY"


@given(
    basis_points=st.integers(0, MAX_BASIS_POINTS),
    fixed=st.integers(0, MAX_FIXED_FEE_MINOR),
    captured=st.integers(0, MAX_AMOUNT_MINOR),
)
@settings(max_examples=200)
def test_the_fee_is_between_the_smaller_of_fixed_and_capture_and_the_capture(
    basis_points: int, fixed: int, captured: int
) -> None:
    fee = FeeSchedule(basis_points, fixed).fee_for(Money(captured, "EUR")).amount_minor

    assert min(fixed, captured) <= fee <= captured


@pytest.mark.parametrize(
    ("basis_points", "fixed"), [(0, 0), (MAX_BASIS_POINTS, MAX_FIXED_FEE_MINOR)]
)
def test_a_schedule_accepts_the_bounds(basis_points: int, fixed: int) -> None:
    schedule = FeeSchedule(basis_points, fixed)

    assert (schedule.basis_points, schedule.fixed_minor) == (basis_points, fixed)


@pytest.mark.parametrize("basis_points", [-1, MAX_BASIS_POINTS + 1, 2.9, True, "290"], ids=repr)
def test_a_schedule_refuses_basis_points_out_of_bounds_or_not_int(basis_points: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        FeeSchedule(basis_points=basis_points, fixed_minor=30)  # type: ignore[arg-type]

    assert refused.value.field == "fee_basis_points"


@pytest.mark.parametrize("fixed", [-1, MAX_FIXED_FEE_MINOR + 1, 30.0, False], ids=repr)
def test_a_schedule_refuses_a_fixed_fee_out_of_bounds_or_not_int(fixed: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        FeeSchedule(basis_points=290, fixed_minor=fixed)  # type: ignore[arg-type]

    assert refused.value.field == "fee_fixed_minor"
