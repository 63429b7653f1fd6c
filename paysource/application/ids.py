"""External ids: a type prefix and the UUID's hex (`pay_4c1d…`), opaque to clients.

A malformed id, or one with another type's prefix, is simply an id we do not know:
the API answers 404, exactly as for an id of another merchant.
"""

from __future__ import annotations

import re
from enum import StrEnum
from uuid import UUID

from paysource.application.errors import NotFound

_HEX32 = re.compile(r"[0-9a-f]{32}")


class Kind(StrEnum):
    MERCHANT = "mer"
    CUSTOMER = "cus"
    PAYMENT = "pay"
    REFUND = "re"
    API_KEY = "key"
    SETTLEMENT = "stl"
    WEBHOOK_ENDPOINT = "we"
    DISPUTE = "dp"
    EVENT = "evt"


_NOUN = {
    Kind.MERCHANT: "merchant",
    Kind.CUSTOMER: "customer",
    Kind.PAYMENT: "payment",
    Kind.REFUND: "refund",
    Kind.API_KEY: "API key",
    Kind.SETTLEMENT: "settlement",
    Kind.WEBHOOK_ENDPOINT: "webhook endpoint",
    Kind.DISPUTE: "dispute",
    Kind.EVENT: "event",
}


def encode(kind: str, value: UUID) -> str:
    """`kind`: a Kind, or another object's prefix (webhook endpoints, deliveries)."""
    return f"{kind}_{value.hex}"


def encode_optional(kind: Kind, value: UUID | None) -> str | None:
    return None if value is None else encode(kind, value)


def decode(kind: Kind, external: str) -> UUID:
    return decode_prefixed(kind, external, _NOUN[kind])


def decode_prefixed(prefix: str, external: str, noun: str) -> UUID:
    """The UUID of `<prefix>_<32 hex>`, else NotFound("no such <noun>")."""
    head, _, rest = external.partition("_")
    # ASCII hex only: UUID() would also read other scripts' digits, one id many spellings.
    if head != prefix or not _HEX32.fullmatch(rest):
        # The id is not echoed back: it is client input, and could be anything.
        raise NotFound(f"no such {noun}")
    return UUID(hex=rest)
