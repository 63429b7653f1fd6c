"""Who may see what: the one place where GraphQL authorizes reads and writes.

Every object a resolver returns passes `Access.sees` for its kind, after the SQL
already narrowed the rows to the caller's merchant (and customer): two locks, one
key. An object the caller may not see is simply absent, exactly like an unknown id.

Within an object it may see, a caller may still be kept from some of its fields:
`Access.shows(Detail)` decides, and such a field answers null. A customer token (a
shopper's browser) sees its own payments, not what the merchant pays, thinks or
notes about them: no fees, no risk assessment, no merchant notes (descriptions and
metadata), no event internals (request hashes, idempotency keys, actors, acquirer
references, authorization codes, card tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from paysource.application.auth import Principal
from paysource.domain.api_key import Role
from paysource.readmodels.reader import owns

T = TypeVar("T")


class Kind(Enum):
    MERCHANT = "merchant"
    CUSTOMER = "customer"
    PAYMENT = "payment"
    REFUND = "refund"
    TRANSACTION = "transaction"
    SETTLEMENT = "settlement"
    DISPUTE = "dispute"


class Detail(Enum):
    """Fields that only the merchant's side (and staff) see; null for customer tokens."""

    # The merchant's fee schedule, a payment's and a transaction's fee.
    FEES = "fees"
    # A payment's risk outcome, score and reasons.
    RISK = "risk"
    # What the merchant wrote: a payment's description and metadata, a customer's metadata.
    MERCHANT_NOTES = "merchant_notes"
    # An event's `data` and `metadata` (its type, version and time stay visible).
    EVENT_INTERNALS = "event_internals"
    # Recorded decisions the acquirer refused to carry out (operations follow them up).
    RELAY_FAILURES = "relay_failures"


@dataclass(frozen=True, slots=True)
class Access:
    principal: Principal
    # Set for a customer-scoped token: that customer's objects only, read-only.
    customer_id: UUID | None = None
    # Set for a token: when it stops being accepted (a websocket then ends).
    expires_at: datetime | None = None

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

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def sees(self, kind: Kind, row: dict[str, Any]) -> bool:
        return _RULES[kind](self, row)

    def shows(self, detail: Detail) -> bool:
        """Whether fields of this kind of detail are shown, or answer null."""
        return detail not in _HIDDEN_FROM_CUSTOMERS or self.customer_id is None

    def _owns(self, row: dict[str, Any], owner: str = "merchant_id") -> bool:
        # The one ownership rule of every read path (readmodels.reader.owns).
        return owns(self.merchant_id, row, owner)

    def _customer(self, customer_id: UUID | None) -> bool:
        return self.customer_id is None or self.customer_id == customer_id


_HIDDEN_FROM_CUSTOMERS = frozenset(Detail)

_RULES: dict[Kind, Callable[[Access, dict[str, Any]], bool]] = {
    Kind.MERCHANT: lambda a, row: a._owns(row, "id"),
    Kind.CUSTOMER: lambda a, row: a._owns(row) and a._customer(row["id"]),
    # Refund rows carry their payment's customer (see payments.queries.REFUND_LIST).
    Kind.PAYMENT: lambda a, row: a._owns(row) and a._customer(row["customer_id"]),
    Kind.REFUND: lambda a, row: a._owns(row) and a._customer(row["customer_id"]),
    Kind.TRANSACTION: lambda a, row: a._owns(row) and a._customer(row["customer_id"]),
    # A settlement belongs to no customer: a customer token sees none, not even its
    # merchant's.
    Kind.SETTLEMENT: lambda a, row: a._owns(row) and a.sees_merchant_totals,
    # A dispute is between the merchant and the acquirer: no customer token sees one.
    Kind.DISPUTE: lambda a, row: a._owns(row) and a.sees_merchant_totals,
}


def shown(access: Access, detail: Detail, value: T) -> T | None:
    """`value` when `access` is shown this kind of detail, else None."""
    return value if access.shows(detail) else None
