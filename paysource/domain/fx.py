"""Converting a settlement into the merchant's settlement currency.

Each item's net is converted exactly and rounded half-even (what a statement shows
per line); the payout is the settlement's net converted once, rounded half-even.
The two differ by a few minor units at most (rounding each of n items moves at most
half a unit each): that difference is the platform's FX rounding gain or loss,
posted to its own ledger account (docs/ledger.md, "FX conversion"). Debit items can
round the items' sum to zero or below while the payout is positive; the ledger posts
that too.

A conversion whose payout or an item's net would leave the range of amounts is
refused (`ConversionOutOfRange`) before anything is recorded: the payout is `Money`
at the bank rail, and the ledger sums the figures in bigints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from paysource.domain.errors import DomainError
from paysource.domain.money import MAX_AMOUNT_MINOR
from paysource.domain.rates import Rate


class ConversionOutOfRange(DomainError):
    """The settlement converts, at this rate, to figures that are not amounts."""

    code = "conversion_out_of_range"


class ConvertedFacts(Protocol):
    payout_currency: str
    pair: str
    rate: str
    rate_valid_from: datetime
    rate_source: str
    net_minor: int
    item_nets: list[int]
    items_minor: int
    payout_minor: int
    fx_difference_minor: int


@dataclass(frozen=True, slots=True)
class Conversion:
    payout_currency: str
    pair: str
    rate: Decimal
    rate_valid_from: datetime
    rate_source: str
    net_minor: int  # in the items' currency
    item_nets: tuple[int, ...]  # in the payout currency
    items_minor: int
    payout_minor: int
    fx_difference_minor: int

    @classmethod
    def from_event(cls, e: ConvertedFacts) -> Conversion:
        return cls(
            e.payout_currency, e.pair, Decimal(e.rate), e.rate_valid_from, e.rate_source,
            e.net_minor, tuple(e.item_nets), e.items_minor, e.payout_minor,
            e.fx_difference_minor,
        )  # fmt: skip

    def totals(self) -> dict[str, Any]:
        return {
            "payout_currency": self.payout_currency,
            "net_minor": self.net_minor,
            "items_minor": self.items_minor,
            "payout_minor": self.payout_minor,
            "fx_difference_minor": self.fx_difference_minor,
        }

    def fields(self) -> dict[str, Any]:
        """The event's fields: the rate as a string, so no float can carry it."""
        return {
            **self.totals(),
            "pair": self.pair,
            "rate": str(self.rate),
            "rate_valid_from": self.rate_valid_from,
            "rate_source": self.rate_source,
            "item_nets": list(self.item_nets),
        }


def conversion(rate: Rate, item_nets: list[int], net_minor: int) -> Conversion:
    """The conversion of a settlement whose items' nets are `item_nets` (summing to
    `net_minor`, in `rate.base`) into `rate.quote`."""
    converted = tuple(rate.convert(net) for net in item_nets)
    payout = rate.convert(net_minor)
    _check_amounts(rate, converted, payout)
    return Conversion(
        rate.quote, rate.pair, rate.rate, rate.valid_from, rate.source, net_minor,
        converted, sum(converted), payout, payout - sum(converted),
    )  # fmt: skip


def _check_amounts(rate: Rate, item_nets: tuple[int, ...], payout_minor: int) -> None:
    # A Converted event out of range would stop the ledger and the payouts behind it
    # for good: refused here, it is never recorded.
    in_range = 0 <= payout_minor <= MAX_AMOUNT_MINOR
    if not in_range or any(abs(net) > MAX_AMOUNT_MINOR for net in item_nets):
        raise ConversionOutOfRange(
            f"at the {rate.pair} rate {rate.rate} this settlement converts beyond the "
            f"largest payout ({MAX_AMOUNT_MINOR} minor units of {rate.quote})"
        )
