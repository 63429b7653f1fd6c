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


_NOUN = {
    Kind.MERCHANT: "merchant",
    Kind.CUSTOMER: "customer",
    Kind.PAYMENT: "payment",
    Kind.REFUND: "refund",
    Kind.API_KEY: "API key",
    Kind.SETTLEMENT: "settlement",
}


def encode(kind: Kind, value: UUID) -> str:
    return f"{kind}_{value.hex}"


def encode_optional(kind: Kind, value: UUID | None) -> str | None:
    return None if value is None else encode(kind, value)


def decode(kind: Kind, external: str) -> UUID:
    # The id is not echoed back: it is client input, and could be anything.
    prefix, _, rest = external.partition("_")
    # ASCII hex only: UUID() would also read other scripts' digits, one id many spellings.
    if prefix != kind or not _HEX32.fullmatch(rest):
        raise NotFound(f"no such {_NOUN[kind]}")
    return UUID(hex=rest)
