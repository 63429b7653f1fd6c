"""One event of a payment's history, straight from the event store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON


@strawberry.type(description="An immutable fact in a payment's history.")
class PaymentEvent:
    type: str
    version: int
    time: datetime
    data: JSON | None = strawberry.field(
        description="What happened, in detail. Null for customer tokens."
    )
    metadata: JSON | None = strawberry.field(
        description="Who acted: actor, request id, key… Null for customer tokens."
    )

    @classmethod
    def from_row(cls, row: dict[str, Any], *, internals: bool) -> PaymentEvent:
        """`internals`: whether the caller sees `data` and `metadata` (policy.Detail)."""
        return cls(
            type=row["type"],
            version=row["version"],
            time=datetime.fromisoformat(row["time"]),
            data=row["data"] if internals else None,
            metadata=row["metadata"] if internals else None,
        )
