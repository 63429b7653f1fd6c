"""The one rounding rule for money: half-even (banker's rounding) to the minor unit.

Every figure that is not already a whole number of minor units — a fee's basis
points, a converted amount — is an exact fraction first (`Fraction`, never a float)
and is rounded once, here. Half-even rounds a tie to the even neighbour (0.5 → 0,
1.5 → 2, 2.5 → 2), so ties do not drift up on average across many postings; see
docs/ledger.md ("Rounding") and docs/decisions.md.
"""

from __future__ import annotations

from fractions import Fraction


def round_half_even(value: Fraction | int) -> int:
    """`value` rounded to the nearest integer, a tie to the even one."""
    exact = Fraction(value)
    # Python's round() of a Fraction is exact and rounds ties to even.
    return round(exact)


def divide_half_even(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded half-even, in integers only: what
    `round_half_even(Fraction(numerator, denominator))` gives, without building a
    Fraction (its gcd and normalising were most of a capture's fee)."""
    if denominator <= 0:
        raise ValueError("the denominator is positive")
    quotient, remainder = divmod(numerator, denominator)  # floor: 0 <= remainder < denominator
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        return quotient + 1
    return quotient
