"""Who may see what: the one place where GraphQL authorizes reads and writes.

Every object a resolver returns passes `Access.sees` for its kind, after the SQL
already narrowed the rows to the caller's merchant (and customer): two locks, one
key. An object the caller may not see is simply absent, exactly like an unknown id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from uuid import UUID

from paysource.application.auth import Principal
from paysource.domain.api_key import Role


class Kind(Enum):
    MERCHANT = "merchant"
    CUSTOMER = "customer"
    PAYMENT = "payment"
    REFUND = "refund"
    TRANSACTION = "transaction"
    SETTLEMENT = "settlement"


@dataclass(frozen=True, slots=True)
class Access:
    principal: Principal
    # Set for a customer-scoped token: that customer's objects only, read-only.
    customer_id: UUID | None = None

    @property
    def merchant_id(self) -> UUID | None:
        """The merchant every row must belong to; None for staff roles (any merchant)."""
        return self.principal.merchant_id

    @property
    def may_write(self) -> bool:
        return self.principal.role is Role.MERCHANT and self.customer_id is None

    @property
    def sees_merchant_totals(self) -> bool:
        """Balances, volumes and settlements are the merchant's business, not its
        customers'."""
        return self.customer_id is None

    def sees(self, kind: Kind, row: dict[str, Any]) -> bool:
        return _RULES[kind](self, row)

    def _owns(self, merchant_id: UUID) -> bool:
        return self.merchant_id is None or self.merchant_id == merchant_id

    def _customer(self, customer_id: UUID | None) -> bool:
        return self.customer_id is None or self.customer_id == customer_id


_RULES: dict[Kind, Callable[[Access, dict[str, Any]], bool]] = {
    Kind.MERCHANT: lambda a, row: a._owns(row["id"]),
    Kind.CUSTOMER: lambda a, row: a._owns(row["merchant_id"]) and a._customer(row["id"]),
    # Refund rows carry their payment's customer (see reads.REFUND_SELECT).
    Kind.PAYMENT: lambda a, row: a._owns(row["merchant_id"]) and a._customer(row["customer_id"]),
    Kind.REFUND: lambda a, row: a._owns(row["merchant_id"]) and a._customer(row["customer_id"]),
    Kind.TRANSACTION: lambda a, row: (
        a._owns(row["merchant_id"]) and a._customer(row["customer_id"])
    ),
    # A settlement belongs to no customer: a customer token sees none, not even its
    # merchant's.
    Kind.SETTLEMENT: lambda a, row: a._owns(row["merchant_id"]) and a.sees_merchant_totals,
}
