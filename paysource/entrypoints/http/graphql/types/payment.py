"""Payment: amounts, status, card, risk, its customer and refunds, and its history."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from paysource.application.ids import Kind, encode
from paysource.entrypoints.http.graphql import fields, history
from paysource.entrypoints.http.graphql.policy import Detail, shown
from paysource.entrypoints.http.graphql.policy import Kind as Policy
from paysource.entrypoints.http.graphql.types.card import Card, Risk
from paysource.entrypoints.http.graphql.types.event import PaymentEvent
from paysource.entrypoints.http.graphql.types.money import Money
from paysource.entrypoints.http.graphql.types.node import Node
from paysource.entrypoints.http.graphql.types.refund import Refund

if TYPE_CHECKING:
    from paysource.entrypoints.http.graphql.types.customer import Customer
    from paysource.entrypoints.http.graphql.types.dispute import Dispute


@strawberry.enum
class PaymentStatus(Enum):
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@strawberry.enum
class CaptureMethod(Enum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


@strawberry.type(description="How an operator resolved a capture the acquirer refused.")
class RelayResolution:
    action: str = strawberry.field(description="`retry` or `reverse`.")
    outcome: str = strawberry.field(description="`captured`, `refused` (again) or `reversed`.")
    reason: str = strawberry.field(description="The operator's reason.")
    failure: str = strawberry.field(description="The acquirer's refusal of a retry, if any.")


@strawberry.type
class Payment(Node):
    id: strawberry.ID
    status: PaymentStatus
    amount: Money
    amount_capturable: Money
    amount_captured: Money
    amount_refunded: Money
    amount_refund_pending: Money
    capture_method: CaptureMethod
    card: Card
    decline_code: str | None
    cancellation_reason: str | None
    created_at: datetime
    updated_at: datetime
    authorized_at: datetime | None
    version: int
    as_of: datetime | None = strawberry.field(
        description="Set when this is the payment as it was at that moment (`asOf`)."
    )
    uuid: strawberry.Private[UUID]
    merchant_id: strawberry.Private[UUID]
    customer_id: strawberry.Private[UUID | None]
    # Shown only to the merchant's side (policy.Detail); null for customer tokens.
    fee_amount: strawberry.Private[Money]
    risk_assessment: strawberry.Private[Risk | None]
    notes: strawberry.Private[tuple[str | None, dict[str, Any]]]
    refused_operations: strawberry.Private[list[str]]
    hold: strawberry.Private[str | None]
    resolution: strawberry.Private[dict[str, str] | None]
    confirmed_at: strawberry.Private[datetime | None]

    @classmethod
    def from_row(cls, row: dict[str, Any], *, as_of: datetime | None = None) -> Payment:
        currency = row["currency"]
        return cls(
            id=strawberry.ID(encode(Kind.PAYMENT, row["id"])),
            status=PaymentStatus(row["status"]),
            amount=Money.of(row["amount_minor"], currency),
            amount_capturable=Money.of(row["amount_capturable_minor"], currency),
            amount_captured=Money.of(row["amount_captured_minor"], currency),
            amount_refunded=Money.of(row["amount_refunded_minor"], currency),
            amount_refund_pending=Money.of(row["amount_refund_pending_minor"], currency),
            capture_method=CaptureMethod(row["capture_method"]),
            card=Card(brand=row["card_brand"], bin=row["card_bin"], last4=row["card_last4"]),
            decline_code=row["decline_code"],
            cancellation_reason=row["cancellation_reason"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            authorized_at=row["authorized_at"],
            version=row["version"],
            as_of=as_of,
            uuid=row["id"],
            merchant_id=row["merchant_id"],
            customer_id=row["customer_id"],
            fee_amount=Money.of(row["fee_minor"], currency),
            risk_assessment=_risk(row),
            notes=(row["description"], row["metadata"]),
            refused_operations=list(row["relay_failures"]),
            hold=row["settlement_hold"],
            resolution=row["relay_resolution"],
            confirmed_at=row["capture_confirmed_at"],
        )

    @fields.field("What the capture costs the merchant. Null for customer tokens.")
    def fee(self, info: strawberry.Info) -> Money | None:
        return shown(info.context.access, Detail.FEES, self.fee_amount)

    @fields.field("What the risk rules concluded. Null for customer tokens.")
    def risk(self, info: strawberry.Info) -> Risk | None:
        return shown(info.context.access, Detail.RISK, self.risk_assessment)

    @fields.field("The merchant's description. Null for customer tokens.")
    def description(self, info: strawberry.Info) -> str | None:
        return shown(info.context.access, Detail.MERCHANT_NOTES, self.notes[0])

    @fields.field("The merchant's metadata. Null for customer tokens.")
    def metadata(self, info: strawberry.Info) -> JSON | None:
        return shown(info.context.access, Detail.MERCHANT_NOTES, JSON(self.notes[1]))

    @fields.field(
        "Recorded decisions (`capture`, `void`) the acquirer refused to carry out, oldest "
        "first: money may not have moved as recorded. Null for customer tokens."
    )
    def relay_failures(self, info: strawberry.Info) -> list[str] | None:
        return shown(info.context.access, Detail.RELAY_FAILURES, self.refused_operations)

    @fields.field(
        "Why none of this payment's money is settled now (`capture_refused`: the acquirer "
        "refused the capture; an operator resolves it), or null. Null for customer tokens."
    )
    def settlement_hold(self, info: strawberry.Info) -> str | None:
        return shown(info.context.access, Detail.RELAY_FAILURES, self.hold)

    @fields.field(
        "When the acquirer confirmed the capture: only then is it settled. Null until then, "
        "for captures recorded before confirmations were, and for customer tokens."
    )
    def capture_confirmed(self, info: strawberry.Info) -> datetime | None:
        return shown(info.context.access, Detail.RELAY_FAILURES, self.confirmed_at)

    @fields.field("How an operator last resolved a refused capture, or null.")
    def relay_resolution(self, info: strawberry.Info) -> RelayResolution | None:
        found = shown(info.context.access, Detail.RELAY_FAILURES, self.resolution)
        return None if found is None else RelayResolution(**found)

    @strawberry.field
    async def customer(
        self, info: strawberry.Info
    ) -> (
        Annotated[Customer, strawberry.lazy("paysource.entrypoints.http.graphql.types.customer")]
        | None
    ):
        from paysource.entrypoints.http.graphql.types.customer import Customer  # noqa: PLC0415  # a cycle

        if self.customer_id is None:
            return None
        row = await info.context.loaders.customer.load(self.customer_id)
        return None if row is None else Customer.from_row(row)

    @fields.field("Its dispute (chargeback), if any: a payment is disputed at most once.")
    async def disputes(
        self, info: strawberry.Info
    ) -> list[
        Annotated[Dispute, strawberry.lazy("paysource.entrypoints.http.graphql.types.dispute")]
    ]:
        from paysource.entrypoints.http.graphql.types.dispute import Dispute  # noqa: PLC0415  # a cycle

        rows = await info.context.loaders.disputes_of_payment.load(self.uuid)
        return [Dispute.from_row(row) for row in rows]

    @fields.field("Oldest first; with `asOf`, as they were at that moment.")
    async def refunds(self, info: strawberry.Info) -> list[Refund]:
        rows = await info.context.loaders.refunds_of_payment.load(self.uuid)
        if self.as_of is not None:
            moment = self.as_of
            earlier = [row for row in rows if row["created_at"] <= moment]
            cell = info.context.container.router.for_merchant(self.merchant_id)
            rows = await history.refunds_as_of(cell, earlier, moment)
            rows = [row for row in rows if info.context.access.sees(Policy.REFUND, row)]
        return [Refund.from_row(row) for row in rows]

    @fields.field(
        "Every event, oldest first (up to `asOf` when given). Customer tokens see each "
        "event's type, version and time only (`data` and `metadata` are null)."
    )
    async def events(self, info: strawberry.Info) -> list[PaymentEvent]:
        key = (self.merchant_id, self.uuid, self.as_of)
        rows = await info.context.loaders.payment_events.load(key)
        internals = info.context.access.shows(Detail.EVENT_INTERNALS)
        return [PaymentEvent.from_row(row, internals=internals) for row in rows]


def _risk(row: dict[str, Any]) -> Risk | None:
    if row["risk_outcome"] is None:
        return None
    return Risk(
        outcome=row["risk_outcome"],
        score=row["risk_score"],
        reasons=list(row["risk_reasons"] or []),
    )
