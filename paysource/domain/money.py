"""Money: an integer amount of minor units and an ISO 4217 currency. Never a float."""

from __future__ import annotations

from dataclasses import dataclass

from paysource.domain.currency import exponent
from paysource.domain.errors import CurrencyMismatch, InvalidAmount, InvalidCurrency

# Far above any real movement (10^15 cents is ten trillion dollars), low enough that
# sums of many amounts stay exact in a Postgres bigint and in JSON numbers.
MAX_AMOUNT_MINOR = 10**15


def check_currency(code: object) -> str:
    """Return `code` if it is an ISO 4217 currency with minor units, else raise."""
    if not isinstance(code, str) or exponent(code) is None:
        raise InvalidCurrency(f"{code!r} is not an ISO 4217 currency code", field="currency")
    return code


def check_amount_minor(amount_minor: object, *, field: str = "amount") -> int:
    """Return `amount_minor` if it is a non-negative integer within bounds, else raise.

    `bool` is an `int` subclass in Python; we refuse it, as we refuse floats, so a
    JSON `true` or `12.5` can never become money.
    """
    if type(amount_minor) is not int:
        raise InvalidAmount(f"{field} must be an integer number of minor units", field=field)
    if not 0 <= amount_minor <= MAX_AMOUNT_MINOR:
        raise InvalidAmount(
            f"{field} must be between 0 and {MAX_AMOUNT_MINOR} minor units", field=field
        )
    return amount_minor


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        check_amount_minor(self.amount_minor)
        check_currency(self.currency)

    @property
    def exponent(self) -> int:
        value = exponent(self.currency)
        assert value is not None  # checked in __post_init__
        return value

    def formatted(self) -> str:
        """A human rendering such as `12.34 USD` or `500 JPY` (exact, no float)."""
        if self.exponent == 0:
            return f"{self.amount_minor} {self.currency}"
        units, minor = divmod(self.amount_minor, 10**self.exponent)
        return f"{units}.{minor:0{self.exponent}d} {self.currency}"

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __str__(self) -> str:
        return self.formatted()
