"""Money: an exact amount in minor units, its currency, and a rendering for people."""

from __future__ import annotations

import strawberry

from paysource.domain.currency import exponent
from paysource.entrypoints.http.graphql import fields
from paysource.entrypoints.http.graphql.scalars import MinorUnits


@strawberry.type(description="An exact amount: integer minor units and an ISO 4217 currency.")
class Money:
    amount_minor: MinorUnits
    currency: str

    @fields.field("For people, e.g. `25.00 USD`, `-3.10 EUR`, `500 JPY`.")
    def formatted(self) -> str:
        return format_minor(self.amount_minor, self.currency)

    @classmethod
    def of(cls, amount_minor: int, currency: str) -> Money:
        return cls(amount_minor=MinorUnits(int(amount_minor)), currency=currency.strip())


def format_minor(amount_minor: int, currency: str) -> str:
    """Exact decimal rendering (no float); balances may be negative."""
    digits = exponent(currency) or 0
    sign = "-" if amount_minor < 0 else ""
    if digits == 0:
        return f"{sign}{abs(amount_minor)} {currency}"
    units, minor = divmod(abs(amount_minor), 10**digits)
    return f"{sign}{units}.{minor:0{digits}d} {currency}"
