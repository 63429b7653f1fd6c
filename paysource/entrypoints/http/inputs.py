"""Request bodies of the commands, shared by REST and GraphQL: both APIs refuse
exactly the same things, and hash the same normalised body into the idempotency
fingerprint, so a key answers once whichever API sent it first.

Strict: integers are integers, unknown fields are errors. Bodies reject floats, strings
and booleans for amounts instead of coercing them, and refuse anything that looks like
a card number wherever it appears.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from paysource.application.ids import Kind, decode
from paysource.application.payments import NewPayment
from paysource.domain.card import contains_pan
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.payment import MAX_PAYMENT_MINOR, CaptureMethod

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(max_length=254)]
Metadata = dict[
    Annotated[str, StringConstraints(min_length=1, max_length=40)],
    Annotated[str, StringConstraints(max_length=500)],
]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
PaymentAmount = Annotated[int, Field(ge=1, le=MAX_PAYMENT_MINOR, strict=True)]
FixedFeeMinor = Annotated[int, Field(ge=0, le=100_000_000, strict=True)]


def _one_fee_per_currency(value: Any) -> Any:
    """`{"USD": 30, "usd": 31}` names one currency twice (codes are upper-cased): refused,
    where the dict's last entry would silently win."""
    if isinstance(value, dict):
        codes = [key.upper() for key in value if isinstance(key, str)]
        if len(set(codes)) != len(codes):
            raise PydanticCustomError(
                "duplicate_currency", "a currency is listed twice (letter case aside)"
            )
    return value


FixedFees = Annotated[
    dict[Currency, FixedFeeMinor],
    Field(max_length=200),
    BeforeValidator(_one_fee_per_currency),
]


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included (iterative: depth cannot overflow)."""
    found, pending = [], [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


# Metadata keys that announce card data, compared without case or punctuation
# ("card_cvv", "cardCvv" and "card-cvc" alike): refused whatever their value looks like.
_CARD_DATA_KEYS = frozenset(
    {"pan", "cid", "cvd", "cardno", "cardnum", "cardverification", "primaryaccountnumber"}
)
_CARD_DATA_SUFFIXES = (
    "cvv",
    "cvc",
    "cvv2",
    "cvc2",
    "csc",
    "cvn",
    "cardnumber",
    "cardcode",
    "securitycode",
)


def _announces_card_data(key: str) -> bool:
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    return name in _CARD_DATA_KEYS or name.endswith(_CARD_DATA_SUFFIXES)


def _names_card_data(data: Any) -> bool:
    metadata = data.get("metadata") if isinstance(data, dict) else None
    if not isinstance(metadata, dict):
        return False
    return any(isinstance(key, str) and _announces_card_data(key) for key in metadata)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_card_numbers(cls, data: Any) -> Any:
        # PCI scope stops at the edge: a PAN never reaches a log, an event or a model.
        strings = _strings(data)
        if any(contains_pan(text) for text in strings) or _names_card_data(data):
            raise PydanticCustomError("card_number", "card numbers are not accepted")
        # Postgres text cannot hold NUL; refused here, it can never stall a projection.
        if any("\x00" in text for text in strings):
            raise PydanticCustomError("nul_character", "text must not contain NUL characters")
        return data

    def fingerprint_body(self) -> dict[str, Any]:
        """What the client sent, normalised: the basis of the idempotency fingerprint."""
        return self.model_dump(mode="json", exclude_unset=True)


class MerchantIn(Body):
    name: Name
    email: Email | None = None
    settlement_currency: Currency = "USD"
    fee_basis_points: Annotated[int, Field(ge=0, le=10_000, strict=True)] = 290
    # The fixed fee in the settlement currency (kept from before `fee_fixed`); null:
    # the platform's default for that currency.
    fee_fixed_minor: Annotated[int, Field(ge=0, le=100_000_000, strict=True)] | None = None
    # The merchant's own fixed fee per currency, in that currency's minor units
    # ({"USD": 30, "JPY": 40}); other currencies take the platform's default.
    fee_fixed: FixedFees = Field(default_factory=dict)
    # The cell that keeps the merchant's objects (several cells only); default: the
    # least loaded one.
    cell: Annotated[str, StringConstraints(max_length=40, pattern=r"^cell-[a-z0-9-]+$")] | None = (
        None
    )


class FeesIn(Body):
    """A merchant's new fee schedule (PUT /v1/merchants/{id}/fees): replaces the old."""

    fee_basis_points: Annotated[int, Field(ge=0, le=10_000, strict=True)] = 290
    fee_fixed: FixedFees = Field(default_factory=dict)


class ApiKeyIn(Body):
    role: Literal["merchant", "finance", "auditor"]
    merchant: ExternalId | None = None
    label: Annotated[str, StringConstraints(max_length=100)] = ""


class CustomerIn(Body):
    name: Name
    email: Email | None = None
    metadata: Metadata = Field(default_factory=dict, max_length=50)


class CustomerUpdateIn(Body):
    """Only the fields sent change; `"email": null` removes the e-mail and a metadata
    value of "" removes its key."""

    name: Name | None = None
    email: Email | None = None
    metadata: Metadata = Field(default_factory=dict, max_length=50)


class PaymentIn(Body):
    amount: PaymentAmount
    currency: Currency
    source: Annotated[str, StringConstraints(pattern=r"^tok_[A-Za-z0-9_]{1,64}$")]
    customer: ExternalId | None = None
    capture_method: Literal["automatic", "manual"] = "automatic"
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    metadata: Metadata = Field(default_factory=dict, max_length=50)

    def command(self, merchant_id: UUID, key: str, request_hash: str, meta: Meta) -> NewPayment:
        """What this body asks for. Called inside the command, after the claim and the
        rate limit, as every check is: a malformed customer id is refused there."""
        return NewPayment(
            merchant_id=merchant_id,
            idempotency_key=key,
            request_hash=request_hash,
            amount=Money(self.amount, self.currency),
            source=self.source,
            capture_method=CaptureMethod(self.capture_method),
            meta=meta,
            customer_id=decode(Kind.CUSTOMER, self.customer) if self.customer else None,
            description=self.description,
            metadata=dict(self.metadata),
        )


class CaptureIn(Body):
    amount: PaymentAmount | None = None


class CancelIn(Body):
    pass


class ResolveRelayIn(Body):
    """An operator's resolution of a refused capture (docs/settlement.md)."""

    action: Literal["retry", "reverse"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class RefundIn(Body):
    payment: ExternalId
    amount: PaymentAmount | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None
