"""Settlement: what a merchant is owed in one currency up to a cut-off, and its payout.

Built from a `settlements` read-model row; its items come from the event store
(the aggregate), since a failed settlement's items are released and no read model
keeps them. See docs/settlement.md.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry

from paysource.application.ids import Kind, encode
from paysource.application.settlements import MAX_ITEMS_PER_SETTLEMENT
from paysource.entrypoints.http.graphql import fields
from paysource.entrypoints.http.graphql.types.merchant import Merchant
from paysource.entrypoints.http.graphql.types.money import Money
from paysource.entrypoints.http.graphql.types.node import Node
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.graphql.types.refund import Refund


@strawberry.enum(
    description="`OPEN → CLOSED → PAID | FAILED`; a net of zero or less is `CARRIED_FORWARD` "
    "(nothing paid, the debit goes into the next settlement). `AWAITING_RATE`: open, "
    "waiting for an exchange rate into the merchant's settlement currency (see "
    "`waitingReason`). `SUPERSEDED`: it waited until a later cut-off's settlement took its "
    "items (see `supersededBy`); it ends there, having paid nothing."
)
class SettlementStatus(Enum):
    OPEN = "open"
    AWAITING_RATE = "awaiting_rate"
    CLOSED = "closed"
    PAID = "paid"
    FAILED = "failed"
    CARRIED_FORWARD = "carried_forward"
    SUPERSEDED = "superseded"


@strawberry.type(
    description="How a settlement converted into the merchant's settlement currency: the "
    "recorded rate, and the rounding difference the platform took (docs/ledger.md)."
)
class FxConversion:
    pair: str = strawberry.field(description="BASE/QUOTE, e.g. USD/EUR.")
    rate: str = strawberry.field(description="QUOTE per one BASE, an exact decimal string.")
    rate_valid_from: datetime
    difference: Money = strawberry.field(
        description="The payout less the sum of the items converted one by one (half-even)."
    )


@strawberry.enum
class SettlementItemKind(Enum):
    CAPTURE = "capture"
    REFUND = "refund"
    CARRIED_FORWARD = "carried_forward"
    CORRECTION = "correction"
    DISPUTE = "dispute"
    DISPUTE_WON = "dispute_won"


@strawberry.type(
    description="One thing a settlement settles: a capture (its amount less its fee), a "
    "succeeded refund (a debit), an earlier settlement's debit carried forward, a "
    "correction (a debit for a capture reversed after it was paid out; `payment` names it), "
    "or a dispute's amount and fee (a debit when opened, a credit when won)."
)
class SettlementItem:
    kind: SettlementItemKind
    amount: Money
    fee: Money = strawberry.field(description="The capture's fee; zero for other kinds.")
    net: Money = strawberry.field(
        description="What the item adds to the settlement's net (negative for debits)."
    )
    payment_id: strawberry.Private[UUID | None]
    refund_id: strawberry.Private[UUID | None]
    carried_from_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SettlementItem:
        currency = row["currency"]
        return cls(
            kind=SettlementItemKind(row["kind"]),
            amount=Money.of(row["amount_minor"], currency),
            fee=Money.of(row["fee_minor"], currency),
            net=Money.of(row["net_minor"], currency),
            payment_id=row["payment_id"],
            refund_id=row["refund_id"],
            carried_from_id=row["carried_from_id"],
        )

    @fields.field("The captured or refunded payment; null for a carried-forward debit.")
    async def payment(self, info: strawberry.Info) -> Payment | None:
        if self.payment_id is None:
            return None
        row = await info.context.loaders.payment.load(self.payment_id)
        return None if row is None else Payment.from_row(row)

    @fields.field("The refund, for a refund item.")
    async def refund(self, info: strawberry.Info) -> Refund | None:
        if self.refund_id is None:
            return None
        row = await info.context.loaders.refund.load(self.refund_id)
        return None if row is None else Refund.from_row(row)

    @fields.field("For a carried-forward debit: the earlier settlement it comes from.")
    async def carried_from(self, info: strawberry.Info) -> Settlement | None:
        if self.carried_from_id is None:
            return None
        row = await info.context.loaders.settlement.load(self.carried_from_id)
        return None if row is None else Settlement.from_row(row)


@strawberry.type(
    description="What a merchant is owed in one currency for everything captured or "
    "refunded up to `cutoff`, and its payout. "
    "net = gross - refunds - fees + carriedIn + disputes."
)
class Settlement(Node):
    id: strawberry.ID
    currency: str
    cutoff: datetime = strawberry.field(
        description="Captures and refunds up to this moment (inclusive) are settled."
    )
    status: SettlementStatus
    gross: Money = strawberry.field(description="Σ captured amounts.")
    refunds: Money = strawberry.field(description="Σ refunded amounts.")
    fees: Money = strawberry.field(description="Σ fees of the captures.")
    carried_in: Money = strawberry.field(
        description="Debits carried forward from earlier settlements (zero or negative)."
    )
    disputes: Money = strawberry.field(
        description="What disputes moved: won disputes' amount and fee less opened ones'."
    )
    net: Money = strawberry.field(
        description="Paid out when above zero; otherwise carried forward to the next one."
    )
    payout: Money = strawberry.field(
        description="What is paid out: the net, converted into the merchant's settlement "
        "currency when that differs from `currency`."
    )
    fx: FxConversion | None = strawberry.field(
        description="The conversion, when the settlement converted; else null."
    )
    waiting_reason: str | None = strawberry.field(
        description="Why an `AWAITING_RATE` settlement waits (which rate is missing)."
    )
    superseded_by: strawberry.ID | None = strawberry.field(
        description="The later settlement that took this one's items, when `SUPERSEDED`."
    )
    items_count: int
    payout_reference: str | None = strawberry.field(description="The bank's, once paid.")
    failure_reason: str | None = strawberry.field(
        description="Why the payout failed (e.g. `bank_timeout`); its items wait for the "
        "next settlement."
    )
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(
        description="The aggregate's version, as in webhook events: higher is newer."
    )
    uuid: strawberry.Private[UUID]
    merchant_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Settlement:
        currency = row["currency"].strip()
        return cls(
            id=strawberry.ID(encode(Kind.SETTLEMENT, row["id"])),
            currency=currency,
            cutoff=row["cutoff"],
            status=SettlementStatus(row["status"]),
            gross=Money.of(row["gross_minor"], currency),
            refunds=Money.of(row["refunds_minor"], currency),
            fees=Money.of(row["fees_minor"], currency),
            carried_in=Money.of(row["carried_in_minor"], currency),
            disputes=Money.of(row["disputes_minor"], currency),
            net=Money.of(row["net_minor"], currency),
            payout=_payout(row, currency),
            fx=_fx(row),
            waiting_reason=row["waiting_reason"],
            superseded_by=_superseded_by(row),
            items_count=row["items_count"],
            payout_reference=row["payout_reference"],
            failure_reason=row["failure_reason"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=row["version"],
            uuid=row["id"],
            merchant_id=row["merchant_id"],
        )

    @strawberry.field
    async def merchant(self, info: strawberry.Info) -> Merchant | None:
        row = await info.context.loaders.merchant.load(self.merchant_id)
        return None if row is None else Merchant.from_row(row)

    @fields.field(f"What it settles, oldest first (at most {MAX_ITEMS_PER_SETTLEMENT:,}).")
    async def items(self, info: strawberry.Info) -> list[SettlementItem]:
        rows = await info.context.loaders.settlement_items.load((self.merchant_id, self.uuid))
        return [SettlementItem.from_row(row) for row in rows]


def _payout(row: dict[str, Any], currency: str) -> Money:
    if row["payout_currency"] is None:
        return Money.of(row["net_minor"], currency)
    return Money.of(row["payout_minor"], row["payout_currency"].strip())


def _fx(row: dict[str, Any]) -> FxConversion | None:
    if row["fx_pair"] is None:
        return None
    quote = row["payout_currency"].strip()
    return FxConversion(
        pair=row["fx_pair"],
        rate=str(row["fx_rate"]),
        rate_valid_from=row["fx_rate_valid_from"],
        difference=Money.of(row["fx_difference_minor"], quote),
    )


def _superseded_by(row: dict[str, Any]) -> strawberry.ID | None:
    later = row["superseded_by"]
    return None if later is None else strawberry.ID(encode(Kind.SETTLEMENT, later))
