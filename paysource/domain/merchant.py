"""Merchant: who takes payments, where they settle, and what they pay us."""

from __future__ import annotations

from uuid import UUID

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import Meta
from paysource.domain.money import check_currency
from paysource.domain.profile import check_email, check_name


class Merchant(PaysourceAggregate):
    class Registered(PaysourceAggregate.Created):
        name: str
        email: str | None
        settlement_currency: str
        fee_basis_points: int
        fee_fixed_minor: int
        request_hash: str

    class FeeScheduleChanged(PaysourceAggregate.Event):
        fee_basis_points: int
        fee_fixed_minor: int

        def apply(self, aggregate: Merchant) -> None:
            aggregate.fees = FeeSchedule(self.fee_basis_points, self.fee_fixed_minor)

    def __init__(
        self,
        *,
        name: str,
        email: str | None,
        settlement_currency: str,
        fee_basis_points: int,
        fee_fixed_minor: int,
        request_hash: str,
    ) -> None:
        self.name = name
        self.email = email
        self.settlement_currency = settlement_currency
        self.fees = FeeSchedule(fee_basis_points, fee_fixed_minor)
        self.request_hash = request_hash

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
            fee_fixed_minor=fees.fixed_minor,
            request_hash=request_hash,
        )

    def change_fees(self, fees: FeeSchedule, meta: Meta) -> None:
        self._record(
            self.FeeScheduleChanged,
            meta,
            fee_basis_points=fees.basis_points,
            fee_fixed_minor=fees.fixed_minor,
        )
