"""The JSON shapes of REST responses, for the OpenAPI document (request bodies are in
paysource.entrypoints.http.inputs, shared with GraphQL).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

# Response shapes (for the OpenAPI document; bodies are built in `representations`) ---


class Card(BaseModel):
    brand: str
    bin: str
    last4: str


class Risk(BaseModel):
    outcome: str
    score: int
    reasons: list[str]


class RelayResolutionOut(BaseModel):
    action: Literal["retry", "reverse"]
    outcome: Literal["captured", "refused", "reversed"]
    reason: str
    failure: str


class PaymentOut(BaseModel):
    id: str
    object: Literal["payment"]
    merchant: str
    customer: str | None
    status: Literal["processing", "requires_capture", "succeeded", "failed", "canceled"]
    amount: int
    amount_capturable: int
    amount_captured: int
    amount_refunded: int
    amount_refund_pending: int
    fee: int
    currency: str
    capture_method: Literal["automatic", "manual"]
    card: Card
    risk: Risk | None
    decline_code: str | None
    cancellation_reason: str | None
    description: str | None
    metadata: dict[str, str]
    relay_failures: list[Literal["capture", "void"]]
    settlement_hold: Literal["capture_refused"] | None
    relay_resolution: RelayResolutionOut | None
    # When the acquirer confirmed the capture (ISO 8601); null until then, and for
    # captures recorded before confirmations were (docs/settlement.md).
    capture_confirmed: str | None
    created: str
    updated: str
    version: int


class RefundOut(BaseModel):
    id: str
    object: Literal["refund"]
    payment: str
    merchant: str
    status: Literal["pending", "succeeded", "failed"]
    amount: int
    currency: str
    reason: str | None
    failure_code: str | None
    created: str
    version: int


class CustomerOut(BaseModel):
    id: str
    object: Literal["customer"]
    merchant: str
    name: str
    email: str | None
    metadata: dict[str, str]
    created: str
    erased: bool  # personal fields read "[erased]" once true (DELETE /v1/customers/{id})


class MerchantOut(BaseModel):
    id: str
    object: Literal["merchant"]
    name: str
    email: str | None
    settlement_currency: str
    fee_basis_points: int
    fee_fixed_minor: int
    fee_fixed: dict[str, int]
    created: str
    api_key: str | None = None


class ApiKeyOut(BaseModel):
    id: str
    object: Literal["api_key"]
    role: str
    merchant: str | None
    api_key: str | None = None
    revoked: bool = False


class EventOut(BaseModel):
    type: str
    version: int
    time: str
    data: dict[str, Any]
    metadata: dict[str, str]


class ActorOut(BaseModel):
    kind: str
    id: str


class FeedEventOut(BaseModel):
    object: Literal["event"]
    id: str = Field(description="`evt_…`, as its webhook's; the merchant's cursor")
    # Absent for merchant keys: the gaps between positions count other merchants' events.
    position: int | None = Field(
        None, description="In the cell's log; only in auditor and admin answers (absent)"
    )
    type: str
    object_kind: str
    object_id: str
    version: int
    merchant: str
    actor: ActorOut
    request_id: str | None
    traceparent: str | None
    time: str


class FeedList(BaseModel):
    object: Literal["list"]
    data: list[FeedEventOut]
    has_more: bool


class PaymentList(BaseModel):
    object: Literal["list"]
    data: list[PaymentOut]
    has_more: bool


class RefundList(BaseModel):
    object: Literal["list"]
    data: list[RefundOut]
    has_more: bool


class CustomerList(BaseModel):
    object: Literal["list"]
    data: list[CustomerOut]
    has_more: bool


class EventList(BaseModel):
    object: Literal["list"]
    data: list[EventOut]
    has_more: bool
