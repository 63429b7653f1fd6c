"""Settlement: what a merchant is owed for one currency up to a cut-off, and its payout.

    open ──close──▶ closed ──payout accepted──▶ paid
      │               │    ├─converted to a payout of 0──▶ paid, nothing sent
      │               │    └─rail refuses / times out──▶ failed (items released)
      │               └─net ≤ 0──▶ carried_forward (a debit for the next settlement)
      └─no rate for the merchant's settlement currency──▶ open, awaiting a rate
                 └─a later cut-off's settlement closes first──▶ superseded (ends)

A merchant whose settlement currency differs from the items' is paid in its own:
after closing, `convert` records the rate, the pair and the rate's time, each item's
net and the payout in the settlement currency, and the rounding difference between
them (see `fx.py` and docs/settlement.md, "Settlement currency").

Items are captures (amount less fee), succeeded refunds (a debit), earlier
settlements' carried-forward debits, corrections (a debit for a capture reversed
after a settlement had paid it out; debits carried in and corrections are both
counted in `carried_in`), and disputes (their amount and fee: a debit when opened, a
credit when won). Each item is claimed through an `ItemClaim`
aggregate written in the same transaction as the settlement, so the event store's
concurrency — not a check-then-act — keeps an item in exactly one settlement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.errors import IllegalTransition, InvalidValue
from paysource.domain.fx import Conversion, conversion
from paysource.domain.meta import Meta
from paysource.domain.money import check_currency
from paysource.domain.rates import Rate

# Fixed forever: ids derived from them name stored aggregates.
_SETTLEMENT_NAMESPACE = UUID("9c1d7e52-4a0b-4f43-8d2e-6b7a1c3e5f80")
_CLAIM_NAMESPACE = UUID("2e8f4a61-7b3c-4d95-a0e6-3f5b9c2d1a47")
MAX_ITEMS = 50_000


class SettlementStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    PAID = "paid"
    FAILED = "failed"
    CARRIED_FORWARD = "carried_forward"
    # Waited for a rate while a later cut-off's settlement took its items: it ends.
    SUPERSEDED = "superseded"


class ItemKind(StrEnum):
    CAPTURE = "capture"
    REFUND = "refund"
    CARRIED_FORWARD = "carried_forward"
    CORRECTION = "correction"
    # A dispute opened: its amount and fee leave the merchant (`ref_id`: the dispute).
    DISPUTE = "dispute"
    # A dispute won: its amount and fee come back (`ref_id`: the dispute).
    DISPUTE_WON = "dispute_won"


# Debits that come into a settlement from earlier ones (their amounts are negative).
CARRIED_IN_KINDS = frozenset({ItemKind.CARRIED_FORWARD, ItemKind.CORRECTION})
DISPUTE_KINDS = frozenset({ItemKind.DISPUTE, ItemKind.DISPUTE_WON})


@dataclass(frozen=True, slots=True)
class Item:
    """One thing a settlement settles. `ref_id` is what is claimed: the payment for a
    capture, the refund for a refund, the earlier settlement for a carried debit, the
    reversed payment for a correction, the dispute for a dispute's debit (`dispute`) or
    its return when won (`dispute_won`)."""

    kind: ItemKind
    ref_id: UUID
    payment_id: UUID | None
    amount_minor: int
    fee_minor: int = 0

    @property
    def net_minor(self) -> int:
        if self.kind is ItemKind.CAPTURE:
            return self.amount_minor - self.fee_minor
        if self.kind is ItemKind.REFUND:
            return -self.amount_minor
        if self.kind is ItemKind.DISPUTE:
            return -(self.amount_minor + self.fee_minor)
        if self.kind is ItemKind.DISPUTE_WON:
            return self.amount_minor + self.fee_minor
        return self.amount_minor  # a carried debit or a correction is already negative

    @property
    def claim_id(self) -> UUID:
        return claim_id(self.kind, self.ref_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "ref_id": str(self.ref_id),
            "payment_id": str(self.payment_id) if self.payment_id else None,
            "amount_minor": self.amount_minor,
            "fee_minor": self.fee_minor,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        return cls(
            ItemKind(data["kind"]),
            UUID(data["ref_id"]),
            UUID(data["payment_id"]) if data["payment_id"] else None,
            data["amount_minor"],
            data["fee_minor"],
        )


def settlement_id(merchant_id: UUID, currency: str, cutoff: datetime) -> UUID:
    """One settlement per merchant, currency and cut-off: two runs for the same cut-off
    write version 1 of the same aggregate, and only one of them can."""
    # The same instant written in two zones is one cut-off.
    instant = cutoff.astimezone(UTC).isoformat()
    return uuid5(_SETTLEMENT_NAMESPACE, f"{merchant_id}:{currency}:{instant}")


def claim_id(kind: ItemKind, ref_id: UUID) -> UUID:
    return uuid5(_CLAIM_NAMESPACE, f"{kind}:{ref_id}")


class Settlement(PaysourceAggregate):
    class Opened(PaysourceAggregate.Created):
        merchant_id: UUID
        currency: str
        cutoff: datetime

    # Closed, Paid and Failed repeat the merchant, currency and amount so that each
    # is a complete fact for auditors and for the read models that follow them.
    class Closed(PaysourceAggregate.Event):
        merchant_id: UUID
        currency: str
        items: list[dict[str, Any]]
        gross_minor: int
        refunds_minor: int
        fees_minor: int
        carried_in_minor: int
        net_minor: int

        def apply(self, aggregate: Settlement) -> None:
            aggregate.status = SettlementStatus.CLOSED
            aggregate.waiting_reason = None  # closed: it no longer waits for a rate
            aggregate.items = [Item.from_dict(item) for item in self.items]
            aggregate.gross_minor = self.gross_minor
            aggregate.refunds_minor = self.refunds_minor
            aggregate.fees_minor = self.fees_minor
            aggregate.carried_in_minor = self.carried_in_minor
            aggregate.net_minor = self.net_minor

    class CarriedForward(PaysourceAggregate.Event):
        amount_minor: int

        def apply(self, aggregate: Settlement) -> None:
            aggregate.status = SettlementStatus.CARRIED_FORWARD

    class Paid(PaysourceAggregate.Event):
        merchant_id: UUID
        currency: str
        amount_minor: int
        payout_reference: str | None  # None: a payout of nothing, never sent to the bank

        def apply(self, aggregate: Settlement) -> None:
            aggregate.status = SettlementStatus.PAID
            aggregate.payout_reference = self.payout_reference

    class RateAwaited(PaysourceAggregate.Event):
        """No rate converts the items into the merchant's settlement currency yet: the
        settlement stays open, claims nothing, and says why."""

        pair: str
        reason: str

        def apply(self, aggregate: Settlement) -> None:
            aggregate.waiting_reason = self.reason

    class Superseded(PaysourceAggregate.Event):
        """While this settlement waited for a rate, the settlement of a later cut-off
        (`by`) of the same merchant and currency closed, taking the items this one
        would have: it ends here, having claimed and paid nothing."""

        by: UUID
        merchant_id: UUID
        currency: str

        def apply(self, aggregate: Settlement) -> None:
            aggregate.status = SettlementStatus.SUPERSEDED
            aggregate.superseded_by = self.by
            aggregate.waiting_reason = None

    class Converted(PaysourceAggregate.Event):
        """The net converted into the settlement currency at a recorded rate."""

        merchant_id: UUID
        currency: str
        payout_currency: str
        pair: str
        rate: str  # a decimal string: never a float
        rate_valid_from: datetime
        rate_source: str
        net_minor: int
        item_nets: list[int]  # each item's net in the payout currency, half-even
        items_minor: int  # their sum
        payout_minor: int  # the net converted once, half-even
        fx_difference_minor: int  # payout - items: the platform's rounding gain (<0) or loss

        def apply(self, aggregate: Settlement) -> None:
            aggregate.conversion = Conversion.from_event(self)
            aggregate.waiting_reason = None

    class ConversionReversed(PaysourceAggregate.Event):
        """The payout failed: the conversion is undone with it (the items go back)."""

        merchant_id: UUID
        currency: str
        payout_currency: str
        net_minor: int
        items_minor: int
        payout_minor: int
        fx_difference_minor: int

        def apply(self, aggregate: Settlement) -> None:
            pass  # the figures stay readable on the settlement; the ledger reverses them

    class Failed(PaysourceAggregate.Event):
        merchant_id: UUID
        currency: str
        amount_minor: int
        reason: str

        def apply(self, aggregate: Settlement) -> None:
            aggregate.status = SettlementStatus.FAILED
            aggregate.failure_reason = self.reason

    def __init__(self, *, merchant_id: UUID, currency: str, cutoff: datetime) -> None:
        self.merchant_id = merchant_id
        self.currency = currency
        self.cutoff = cutoff
        self.status = SettlementStatus.OPEN
        self.items: list[Item] = []
        self.gross_minor = self.refunds_minor = self.fees_minor = 0
        self.carried_in_minor = self.net_minor = 0
        self.payout_reference: str | None = None
        self.failure_reason: str | None = None
        self.waiting_reason: str | None = None
        self.conversion: Conversion | None = None
        self.superseded_by: UUID | None = None

    @property
    def payout_currency(self) -> str:
        return self.currency if self.conversion is None else self.conversion.payout_currency

    @property
    def payout_minor(self) -> int:
        return self.net_minor if self.conversion is None else self.conversion.payout_minor

    @property
    def disputes_minor(self) -> int:
        """What disputes moved in this settlement: debits opened, less those won."""
        return sum(item.net_minor for item in self.items if item.kind in DISPUTE_KINDS)

    @classmethod
    def open(cls, *, merchant_id: UUID, currency: str, cutoff: datetime, meta: Meta) -> Settlement:
        if cutoff.tzinfo is None:
            raise InvalidValue("the cut-off must have a time zone", field="until")
        return cls._open(
            cls.Opened,
            aggregate_id=settlement_id(merchant_id, currency, cutoff),
            meta=meta,
            merchant_id=merchant_id,
            currency=check_currency(currency),
            cutoff=cutoff.astimezone(UTC),
        )

    def check_status(self, expected: SettlementStatus, action: str) -> None:
        if self.status is not expected:
            raise IllegalTransition(
                f"cannot {action} a settlement that is {self.status}",
                code=f"settlement_not_{expected}",
            )

    def close(self, items: list[Item], meta: Meta) -> None:
        """Fix the items and totals; a net of zero or less is carried forward, unpaid."""
        self.check_status(SettlementStatus.OPEN, "close")
        if not items or len(items) > MAX_ITEMS:
            raise InvalidValue(f"a settlement settles 1 to {MAX_ITEMS} items")
        totals = {kind: [i for i in items if i.kind is kind] for kind in ItemKind}
        self._record(
            self.Closed,
            meta,
            merchant_id=self.merchant_id,
            currency=self.currency,
            items=[item.as_dict() for item in items],
            gross_minor=sum(i.amount_minor for i in totals[ItemKind.CAPTURE]),
            refunds_minor=sum(i.amount_minor for i in totals[ItemKind.REFUND]),
            fees_minor=sum(i.fee_minor for i in totals[ItemKind.CAPTURE]),
            carried_in_minor=sum(i.amount_minor for i in items if i.kind in CARRIED_IN_KINDS),
            net_minor=sum(i.net_minor for i in items),
        )
        if self.net_minor <= 0:
            self._record(self.CarriedForward, meta, amount_minor=self.net_minor)

    def await_rate(self, *, pair: str, reason: str, meta: Meta) -> None:
        self.check_status(SettlementStatus.OPEN, "wait on")
        if self.waiting_reason != reason:
            self._record(self.RateAwaited, meta, pair=pair, reason=reason)

    def supersede(self, by: Settlement, meta: Meta) -> None:
        """End this waiting settlement: `by`, of a later cut-off, took its items."""
        self.check_status(SettlementStatus.OPEN, "supersede")
        same = (by.merchant_id, by.currency) == (self.merchant_id, self.currency)
        if not same or by.cutoff <= self.cutoff or by.status is SettlementStatus.OPEN:
            raise IllegalTransition(
                "only a closed settlement of a later cut-off, of the same merchant and "
                "currency, supersedes a settlement",
                code="settlement_not_superseded",
            )
        self._record(
            self.Superseded, meta, by=by.id, merchant_id=self.merchant_id, currency=self.currency
        )

    def convert(self, rate: Rate, meta: Meta) -> None:
        """Convert the net of a closed settlement into `rate.quote`, at `rate`."""
        self.check_status(SettlementStatus.CLOSED, "convert")
        if self.conversion is not None or rate.base != self.currency:
            raise IllegalTransition(
                f"cannot convert this settlement with a {rate.pair} rate",
                code="settlement_not_convertible",
            )
        self._record(
            self.Converted,
            meta,
            merchant_id=self.merchant_id,
            currency=self.currency,
            **conversion(rate, [item.net_minor for item in self.items], self.net_minor).fields(),
        )

    def mark_paid(self, *, payout_reference: str | None, meta: Meta) -> None:
        """Paid out under the bank's `payout_reference`. A positive net can convert to a
        payout of zero (half a yen is none): that one is paid with nothing sent, and no
        reference; every other payout has one."""
        self.check_status(SettlementStatus.CLOSED, "pay")
        if (payout_reference is None) != (self.payout_minor == 0):
            raise IllegalTransition(
                "only a payout of zero is paid without a bank reference",
                code="settlement_payout_reference",
            )
        self._record(
            self.Paid,
            meta,
            merchant_id=self.merchant_id,
            currency=self.payout_currency,
            amount_minor=self.payout_minor,
            payout_reference=payout_reference,
        )

    def mark_failed(self, *, reason: str, meta: Meta) -> None:
        self.check_status(SettlementStatus.CLOSED, "fail")
        if self.conversion is not None:
            self._record(
                self.ConversionReversed,
                meta,
                merchant_id=self.merchant_id,
                currency=self.currency,
                **self.conversion.totals(),
            )
        self._record(
            self.Failed,
            meta,
            merchant_id=self.merchant_id,
            currency=self.payout_currency,
            amount_minor=self.payout_minor,
            reason=reason,
        )


class ItemClaim(PaysourceAggregate):
    """Which settlement holds an item, if any. One aggregate per item, ever."""

    class Created(PaysourceAggregate.Created):
        kind: str
        ref_id: UUID
        settlement_id: UUID

    class Claimed(PaysourceAggregate.Event):
        settlement_id: UUID

        def apply(self, aggregate: ItemClaim) -> None:
            aggregate.settlement_id = self.settlement_id

    class Released(PaysourceAggregate.Event):
        settlement_id: UUID

        def apply(self, aggregate: ItemClaim) -> None:
            aggregate.settlement_id = None

    def __init__(self, *, kind: str, ref_id: UUID, settlement_id: UUID) -> None:
        self.kind = ItemKind(kind)
        self.ref_id = ref_id
        self.settlement_id: UUID | None = settlement_id

    @classmethod
    def first_claim(cls, item: Item, settlement: UUID, meta: Meta) -> ItemClaim:
        return cls._open(
            cls.Created,
            aggregate_id=item.claim_id,
            meta=meta,
            kind=str(item.kind),
            ref_id=item.ref_id,
            settlement_id=settlement,
        )

    def claim(self, settlement: UUID, meta: Meta) -> None:
        if self.settlement_id is not None:
            raise IllegalTransition("the item is in another settlement", code="item_settled")
        self._record(self.Claimed, meta, settlement_id=settlement)

    def release(self, settlement: UUID, meta: Meta) -> None:
        if self.settlement_id != settlement:
            raise IllegalTransition("the item is not in this settlement", code="item_not_held")
        self._record(self.Released, meta, settlement_id=settlement)
