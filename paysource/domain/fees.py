"""A merchant's fee schedule: basis points of the captured amount plus a fixed part
stated per currency.

The fixed part is a number of minor units *of each currency*: USD 30 is $0.30,
JPY 45 is ¥45, KWD 92 is 0.092 KWD. A merchant may state its own per currency
(`fixed_overrides`); any other currency takes the platform's default, about
USD 0.30 at the built-in reference values (`reference_values`). The proportional
part is exact, then rounded once, half-even, to the minor unit (`rounding`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from paysource.domain.errors import InvalidValue
from paysource.domain.money import Money, check_currency
from paysource.domain.reference_values import from_usd_minor
from paysource.domain.rounding import divide_half_even

MAX_BASIS_POINTS = 10_000
MAX_FIXED_FEE_MINOR = 100_000_000  # ample for IDR or LBP (USD 0.30 is about 2,685,000 LBP cents)
MAX_FIXED_OVERRIDES = 200
DEFAULT_BASIS_POINTS = 290
DEFAULT_FIXED_USD_MINOR = 30


@functools.lru_cache(maxsize=512)  # a pure function of the currency: one per capture
def default_fixed_minor(currency: str) -> int:
    """The platform's fixed fee in `currency`: USD 0.30 at the reference value."""
    return from_usd_minor(DEFAULT_FIXED_USD_MINOR, currency)


def check_fixed_overrides(overrides: Mapping[str, int]) -> Mapping[str, int]:
    if len(overrides) > MAX_FIXED_OVERRIDES:
        raise InvalidValue("too many fixed fees", field="fee_fixed")
    for currency, minor in overrides.items():
        check_currency(currency)
        if type(minor) is not int or not 0 <= minor <= MAX_FIXED_FEE_MINOR:
            raise InvalidValue(
                f"the fixed fee in {currency} must be an integer from 0 to "
                f"{MAX_FIXED_FEE_MINOR} minor units",
                field="fee_fixed",
            )
    return MappingProxyType(dict(sorted(overrides.items())))


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    basis_points: int = DEFAULT_BASIS_POINTS
    fixed_overrides: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if type(self.basis_points) is not int or not 0 <= self.basis_points <= MAX_BASIS_POINTS:
            raise InvalidValue(
                f"fee basis points must be an integer from 0 to {MAX_BASIS_POINTS}",
                field="fee_basis_points",
            )
        object.__setattr__(self, "fixed_overrides", check_fixed_overrides(self.fixed_overrides))

    def fixed_minor(self, currency: str) -> int:
        """The fixed part in `currency`: the merchant's own, else the platform's."""
        own = self.fixed_overrides.get(currency)
        return default_fixed_minor(currency) if own is None else own

    def fee_for(self, captured: Money) -> Money:
        """The fee on a capture: basis points rounded half-even, plus the fixed part of
        the capture's currency, never above the capture."""
        proportional = divide_half_even(captured.amount_minor * self.basis_points, 10_000)
        fee = min(proportional + self.fixed_minor(captured.currency), captured.amount_minor)
        return Money(fee, captured.currency)

    def overrides_dict(self) -> dict[str, int]:
        return dict(self.fixed_overrides)
