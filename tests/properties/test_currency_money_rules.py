"""Money rules that hold in every currency (issue 11): fees and risk decisions scale
with the currency at the loaded rates, and every rounding is half-even in minor units,
for currencies with 0, 2, 3 and 4 decimals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.domain.card import CardDetails
from paysource.domain.currency import exponent
from paysource.domain.fees import FeeSchedule
from paysource.domain.money import Money
from paysource.domain.rates import Rate
from paysource.domain.risk import RiskPolicy, assess
from paysource.domain.rounding import divide_half_even, round_half_even

T = datetime(2026, 12, 1, tzinfo=UTC)
CARD = CardDetails("tok_visa", "visa", "424242", "4242")
# One currency of each exponent: 0, 2, 3 and 4 decimals.
BY_EXPONENT = {0: "JPY", 2: "USD", 3: "KWD", 4: "CLF"}

# Loaded rates, as an operator would: 110 to 200 yen and 0.250 to 0.400 dinar a dollar
# (steps of 10 keep a fixed fee of whole dimes a whole number of yen and fils).
yen_per_usd = st.integers(11, 20).map(lambda n: Decimal(n * 10))
kwd_per_usd = st.integers(25, 40).map(lambda n: Decimal(n * 10) / 1000)


def same_value(usd_minor: int, jpy: Decimal, kwd: Decimal) -> tuple[Money, Money, Money]:
    """The same value in USD, JPY and KWD at the loaded rates (half-even)."""
    to_jpy, to_kwd = Rate("USD", "JPY", jpy, T), Rate("USD", "KWD", kwd, T)
    return (
        Money(usd_minor, "USD"),
        Money(to_jpy.convert(usd_minor), "JPY"),
        Money(to_kwd.convert(usd_minor), "KWD"),
    )


def in_cents(amount: Money, rate: Decimal) -> Fraction:
    """`amount` (JPY or KWD, `rate` a dollar) back in US cents, exactly."""
    return Fraction(amount.amount_minor) / Rate("USD", amount.currency, rate, T).exact(1)


@given(
    usd_minor=st.integers(1, 10**12),
    basis_points=st.integers(0, 1_000),
    fixed_dimes=st.integers(0, 10),
    jpy=yen_per_usd,
    kwd=kwd_per_usd,
)
@settings(max_examples=500)
def test_the_same_value_pays_the_same_fee_within_one_minor_unit(
    usd_minor: int, basis_points: int, fixed_dimes: int, jpy: Decimal, kwd: Decimal
) -> None:
    fixed_usd = fixed_dimes * 10
    # The merchant's fixed fee, the same value in each currency at the loaded rates.
    fixed = {
        "USD": fixed_usd,
        "JPY": Rate("USD", "JPY", jpy, T).convert(fixed_usd),
        "KWD": Rate("USD", "KWD", kwd, T).convert(fixed_usd),
    }
    schedule = FeeSchedule(basis_points, fixed)
    usd, yen, dinar = same_value(usd_minor, jpy, kwd)

    fee_usd = schedule.fee_for(usd).amount_minor
    # Compared in cents, the coarsest of the three minor units (a yen and a fils are less).
    assert abs(fee_usd - in_cents(schedule.fee_for(yen), jpy)) <= 1
    assert abs(fee_usd - in_cents(schedule.fee_for(dinar), kwd)) <= 1


limits = st.sampled_from([500_000, 100_000_000])  # the policy's USD 5,000 and 1,000,000


@given(
    dollars=st.one_of(
        st.integers(1, 2_000_000),
        limits.flatmap(lambda cents: st.integers(cents // 100 - 2, cents // 100 + 2)),
    ),
    jpy=yen_per_usd,
    kwd=kwd_per_usd,
)
@settings(max_examples=500)
def test_the_same_value_gets_the_same_risk_decision_in_every_currency(
    dollars: int, jpy: Decimal, kwd: Decimal
) -> None:
    usd, yen, dinar = same_value(dollars * 100, jpy, kwd)
    policy = RiskPolicy()

    def decided(amount: Money, rate: Rate | None) -> object:
        return assess(policy, amount=amount, card=CARD, recent_payments=0, rate=rate).outcome

    expected = decided(usd, None)
    assert decided(yen, Rate("USD", "JPY", jpy, T)) is expected
    assert decided(dinar, Rate("USD", "KWD", kwd, T)) is expected


def is_half_even(result: int, exact: Fraction) -> bool:
    """`result` is `exact` rounded to the nearest integer, a tie to the even one."""
    distance = abs(result - exact)
    return distance < Fraction(1, 2) or (distance == Fraction(1, 2) and result % 2 == 0)


@given(
    captured=st.integers(0, 10**12),
    basis_points=st.integers(0, 10_000),
    exp=st.sampled_from(sorted(BY_EXPONENT)),
)
@settings(max_examples=500)
def test_the_proportional_fee_rounds_half_even_in_every_exponent(
    captured: int, basis_points: int, exp: int
) -> None:
    currency = BY_EXPONENT[exp]
    fee = FeeSchedule(basis_points, {currency: 0}).fee_for(Money(captured, currency))

    assert is_half_even(fee.amount_minor, Fraction(captured * basis_points, 10_000))


@given(
    amount=st.integers(-(10**12), 10**12),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100_000), places=6),
    base_exp=st.sampled_from(sorted(BY_EXPONENT)),
    quote_exp=st.sampled_from(sorted(BY_EXPONENT)),
)
@settings(max_examples=500)
def test_a_conversion_rounds_half_even_between_any_two_exponents(
    amount: int, rate: Decimal, base_exp: int, quote_exp: int
) -> None:
    base, quote = BY_EXPONENT[base_exp], BY_EXPONENT[quote_exp]
    if base == quote:
        return  # a rate converts between two currencies
    converted = Rate(base, quote, rate, T).convert(amount)
    # Major units: amount / 10^base_exp, times the rate, in quote minor units.
    exact = Fraction(amount, 10 ** (exponent(base) or 0)) * Fraction(rate) * 10**quote_exp

    assert is_half_even(converted, exact)


@given(st.integers(-(10**6), 10**6))
def test_ties_go_to_the_even_neighbour(whole: int) -> None:
    tie = Fraction(2 * whole + 1, 2)

    assert round_half_even(tie) % 2 == 0
    assert abs(round_half_even(tie) - tie) == Fraction(1, 2)


@given(st.integers(-(10**15), 10**15), st.integers(1, 10**6))
def test_integer_division_rounds_as_the_exact_fraction_does(
    numerator: int, denominator: int
) -> None:
    exact = round_half_even(Fraction(numerator, denominator))

    assert divide_half_even(numerator, denominator) == exact


@given(st.integers(-(10**9), 10**9), st.integers(1, 10**6))
def test_integer_division_sends_a_tie_to_the_even_neighbour(whole: int, half: int) -> None:
    # numerator / denominator is exactly whole + 1/2: the case random pairs rarely hit.
    denominator = 2 * half
    numerator = whole * denominator + half

    rounded = divide_half_even(numerator, denominator)

    assert rounded % 2 == 0
    assert rounded in (whole, whole + 1)
