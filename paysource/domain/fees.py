"""A merchant's fee schedule: basis points of the captured amount plus a fixed part."""

from __future__ import annotations

from dataclasses import dataclass

from paysource.domain.errors import InvalidValue
from paysource.domain.money import Money

MAX_BASIS_POINTS = 10_000
MAX_FIXED_FEE_MINOR = 100_000


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    basis_points: int = 290
    fixed_minor: int = 30

    def __post_init__(self) -> None:
        if type(self.basis_points) is not int or not 0 <= self.basis_points <= MAX_BASIS_POINTS:
            raise InvalidValue(
                f"fee basis points must be an integer from 0 to {MAX_BASIS_POINTS}",
                field="fee_basis_points",
            )
        if type(self.fixed_minor) is not int or not 0 <= self.fixed_minor <= MAX_FIXED_FEE_MINOR:
            raise InvalidValue(
                f"fixed fee must be an integer from 0 to {MAX_FIXED_FEE_MINOR} minor units",
                field="fee_fixed_minor",
            )

    def fee_for(self, captured: Money) -> Money:
        """The fee on a capture, rounded half up to the minor unit, never above the capture.

        The fixed part is in minor units of the payment's currency.
        """
        proportional = (captured.amount_minor * self.basis_points + 5_000) // 10_000
        fee = min(proportional + self.fixed_minor, captured.amount_minor)
        return Money(fee, captured.currency)
