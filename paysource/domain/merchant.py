"""Merchant: who takes payments, where they settle, and what they pay us."""

from __future__ import annotations

from uuid import UUID

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.errors import InvalidValue
from paysource.domain.fees import MAX_FIXED_FEE_MINOR, FeeSchedule
from paysource.domain.meta import Meta
from paysource.domain.money import check_currency
from paysource.domain.profile import check_email, check_name

MAX_RATE_LIMIT_PER_S = 100_000


def check_rate_limit(per_s: int | None) -> int | None:
    """A merchant's own request limit: 1 to 100,000 a second, or None (the default)."""
    if per_s is not None and not 1 <= per_s <= MAX_RATE_LIMIT_PER_S:
        raise InvalidValue(
            f"rate_limit_per_s must be 1 to {MAX_RATE_LIMIT_PER_S}, or null for the default",
            field="rate_limit_per_s",
        )
    return per_s


def stored_fees(
    settlement_currency: str,
    basis_points: int,
    fixed_minor: int,
    fixed_by_currency: dict[str, int] | None,
) -> FeeSchedule:
    """The schedule an event states. Events stored before fixed fees were per currency
    have no `fee_fixed_by_currency`: their one `fee_fixed_minor` was typed for the
    merchant's settlement currency, so it becomes the fixed fee of that currency
    (docs/decisions.md, "Fixed fees per currency")."""
    if fixed_by_currency is None:
        fixed_by_currency = {settlement_currency: min(fixed_minor, MAX_FIXED_FEE_MINOR)}
    return FeeSchedule(basis_points, fixed_by_currency)


class Merchant(PaysourceAggregate):
    class Registered(PaysourceAggregate.Created):
        name: str
        email: str | None
        settlement_currency: str
        fee_basis_points: int
        # The fixed fee in the settlement currency: kept for readers of older events.
        fee_fixed_minor: int
        request_hash: str
        # The merchant's own fixed fees per currency (None in events stored before).
        fee_fixed_by_currency: dict[str, int] | None = None

    class FeeScheduleChanged(PaysourceAggregate.Event):
        fee_basis_points: int
        fee_fixed_minor: int
        fee_fixed_by_currency: dict[str, int] | None = None

        def apply(self, aggregate: Merchant) -> None:
            aggregate.fees = stored_fees(
                aggregate.settlement_currency,
                self.fee_basis_points,
                self.fee_fixed_minor,
                self.fee_fixed_by_currency,
            )

    class RateLimitChanged(PaysourceAggregate.Event):
        """An admin set the merchant's requests per second (None: back to the default),
        shared by all of its keys and tokens."""

        rate_limit_per_s: int | None

        def apply(self, aggregate: Merchant) -> None:
            aggregate.rate_limit_per_s = self.rate_limit_per_s

    def __init__(
        self,
        *,
        name: str,
        email: str | None,
        settlement_currency: str,
        fee_basis_points: int,
        fee_fixed_minor: int,
        request_hash: str,
        fee_fixed_by_currency: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self.email = email
        self.settlement_currency = settlement_currency
        self.fees = stored_fees(
            settlement_currency, fee_basis_points, fee_fixed_minor, fee_fixed_by_currency
        )
        self.request_hash = request_hash
        self.rate_limit_per_s: int | None = None

    @classmethod
    def register(
        cls,
        *,
        merchant_id: UUID,
        name: str,
        email: str | None,
        settlement_currency: str,
        fees: FeeSchedule,
        request_hash: str,
        meta: Meta,
    ) -> Merchant:
        return cls._open(
            cls.Registered,
            aggregate_id=merchant_id,
            meta=meta,
            name=check_name(name),
            email=check_email(email),
            settlement_currency=check_currency(settlement_currency),
            fee_basis_points=fees.basis_points,
            fee_fixed_minor=fees.fixed_minor(settlement_currency),
            fee_fixed_by_currency=fees.overrides_dict(),
            request_hash=request_hash,
        )

    def change_fees(self, fees: FeeSchedule, meta: Meta) -> None:
        self._record(
            self.FeeScheduleChanged,
            meta,
            fee_basis_points=fees.basis_points,
            fee_fixed_minor=fees.fixed_minor(self.settlement_currency),
            fee_fixed_by_currency=fees.overrides_dict(),
        )

    def change_rate_limit(self, per_s: int | None, meta: Meta) -> None:
        self._record(self.RateLimitChanged, meta, rate_limit_per_s=check_rate_limit(per_s))
