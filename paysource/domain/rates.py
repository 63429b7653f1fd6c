"""Exchange rates: exact decimals the operator loads, and conversions at them.

A rate says how many units of `quote` one unit of `base` buys (major units: a
USD→JPY rate of 155.20 makes USD 1.00 worth JPY 155.20), valid from `valid_from`
until a later rate of the pair. Rates are `Decimal`, stored as Postgres `numeric`
and written in events as strings, never floats. A conversion is exact (`Fraction`)
and then rounded once, half-even, to the quote's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from paysource.domain.currency import exponent
from paysource.domain.errors import InvalidValue
from paysource.domain.money import check_currency
from paysource.domain.rounding import round_half_even

# Enough for any real rate (IRR per KWD is ~140,000; BTC-like pairs are not money here).
MAX_RATE = Decimal(1000000000)
MAX_RATE_DIGITS = 20


def check_rate(text: object) -> Decimal:
    """A positive, finite decimal written with digits and at most one point."""
    if not isinstance(text, str) or not text or len(text) > 40:
        raise InvalidValue("a rate is a decimal string such as 0.9215", field="rate")
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise InvalidValue(f"{text!r} is not a decimal number", field="rate") from None
    plain = text.replace(".", "", 1).isdigit()
    if not plain or not rate.is_finite() or not 0 < rate <= MAX_RATE:
        raise InvalidValue(
            f"{text!r}: a rate is a positive decimal up to {MAX_RATE}, digits only", field="rate"
        )
    if len(rate.as_tuple().digits) > MAX_RATE_DIGITS:
        raise InvalidValue(f"{text!r}: at most {MAX_RATE_DIGITS} digits", field="rate")
    return rate


@dataclass(frozen=True, slots=True)
class Rate:
    base: str
    quote: str
    rate: Decimal
    valid_from: datetime
    source: str = "rates table"

    def __post_init__(self) -> None:
        check_currency(self.base)
        check_currency(self.quote)
        if self.base == self.quote:
            raise InvalidValue("a rate converts between two different currencies")
        if self.valid_from.tzinfo is None:
            raise InvalidValue("valid_from must have a time zone", field="valid_from")
        if not isinstance(self.rate, Decimal) or not 0 < self.rate <= MAX_RATE:
            raise InvalidValue("a rate is a positive Decimal", field="rate")

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"

    def exact(self, amount_minor: int) -> Fraction:
        """`amount_minor` of `base` in minor units of `quote`, exactly."""
        return exact_conversion(amount_minor, self.base, self.quote, self.rate)

    def convert(self, amount_minor: int) -> int:
        """`amount_minor` of `base` in minor units of `quote`, rounded half-even."""
        return round_half_even(self.exact(amount_minor))


def exact_conversion(amount_minor: int, base: str, quote: str, rate: Decimal) -> Fraction:
    shift = (exponent(quote) or 0) - (exponent(base) or 0)
    return amount_minor * Fraction(rate) * Fraction(10) ** shift
