"""The `settlements` read model's writer: settleable items, and settlements' totals."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.eventlog import Event
from paysource.application.topics import handled_topics
from paysource.domain.dispute import Dispute
from paysource.domain.payment import Payment, SettlementHold
from paysource.domain.settlement import DISPUTE_KINDS, Item, ItemKind, Settlement, SettlementStatus
from paysource.readmodels.rows import Rows, upsert_rows
from paysource.readmodels.settlements.schema import ITEMS, PAYMENTS, SETTLEMENTS
from paysource.readmodels.view import View

ItemKey = tuple[str, UUID]
# The read model's status of an open settlement that waits for an exchange rate.
AWAITING_RATE = "awaiting_rate"

_HOLD_EVENTS = (
    Payment.RelayFailed,
    Payment.RelayRetried,
    Payment.CaptureReversed,
    Payment.CaptureConfirmed,
)
_MONEY_KINDS = frozenset({str(ItemKind.CAPTURE), str(ItemKind.REFUND)})
_REVERSED = "capture_reversed"
# A capture the acquirer has not confirmed yet (migration 018): lifted by its confirmation.
UNCONFIRMED = "capture_unconfirmed"


class SettlementsView(View):
    name: ClassVar[str] = "settlements"
    tables = (PAYMENTS.name, ITEMS.name, SETTLEMENTS.name)

    def begin_batch(self) -> None:
        self.payments = Rows(PAYMENTS)
        self.settlements = Rows(SETTLEMENTS)
        self.items: dict[ItemKey, dict[str, Any]] = {}
        self._dirty: set[ItemKey] = set()

    def prefetch(self, events: Sequence[Event]) -> None:
        payments = [e.originator_id for e in events if isinstance(e, Payment.Event)]
        self.payments.load(self.cursor, payments)
        settlements = [
            e.originator_id
            for e in events
            if isinstance(e, Settlement.Event) and not isinstance(e, Settlement.Opened)
        ]
        self.settlements.load(self.cursor, settlements)
        keys = [
            (str(item["kind"]), UUID(item["ref_id"]))
            for e in events
            if isinstance(e, Settlement.Closed)
            for item in e.items
        ]
        failed = [e.originator_id for e in events if isinstance(e, Settlement.Failed)]
        resolved = [e.originator_id for e in events if isinstance(e, _HOLD_EVENTS)]
        rows = self.cursor.execute(
            "SELECT * FROM settleable_items WHERE (kind, ref_id) IN"
            " (SELECT * FROM unnest(%b::text[], %b::uuid[])) OR settlement_id = ANY(%b)"
            " OR payment_id = ANY(%b)",  # arrays in binary, as in rows.py
            ([k for k, _ in keys], [r for _, r in keys], failed, resolved),
        ).fetchall()
        for row in rows:
            self.items.setdefault((row["kind"], row["ref_id"]), dict(row))

    def add_item(self, row: dict[str, Any]) -> None:
        key = (row["kind"], row["ref_id"])
        self.items[key] = row
        self._dirty.add(key)

    def assign(self, key: ItemKey, settlement_id: UUID | None) -> None:
        self.items[key]["settlement_id"] = settlement_id  # prefetched or added: else a bug
        self._dirty.add(key)

    def hold(
        self, payment_id: UUID, hold: str | None, kinds: frozenset[str], *, only: str = ""
    ) -> None:
        """Put the payment's items of `kinds` on `hold` (None: lift it); with `only`, just
        the items whose hold is that one."""
        for key, row in self.items.items():
            if row["payment_id"] != payment_id or row["kind"] not in kinds:
                continue
            if not only or row["hold"] == only:
                row["hold"] = hold
                self._dirty.add(key)

    def held_by(self, settlement_id: UUID) -> list[ItemKey]:
        return [key for key, row in self.items.items() if row["settlement_id"] == settlement_id]

    def flush(self) -> None:
        self.payments.flush(self.cursor)
        self.settlements.flush(self.cursor)
        if self._dirty:
            # One statement for every item the batch added or changed: a rebuild writes
            # ~43k of them, which `executemany` sent one by one (bench/README.md).
            rows = [[self.items[key][c] for c in ITEMS.columns] for key in sorted(self._dirty)]
            upsert_rows(self.cursor, ITEMS.name, ITEMS.columns, rows, key=("kind", "ref_id"))


class SettlementsProjection(Projection[SettlementsView]):
    name = "settlements"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events that settle nothing."""

    @process_event.register
    def _payment(self, e: Payment.Created, _: Tracking) -> None:
        self.view.payments.add(
            {"id": e.originator_id, "merchant_id": e.merchant_id, "currency": e.currency}
        )

    def _item(
        self,
        e: Payment.Event,
        kind: ItemKind,
        ref_id: UUID,
        amount: int,
        fee: int,
        *,
        hold: str | None = None,
    ) -> None:
        payment = self.view.payments.get(e.originator_id)
        self.view.add_item(
            {
                "kind": str(kind),
                "ref_id": ref_id,
                "merchant_id": payment["merchant_id"],
                "currency": payment["currency"],
                "payment_id": e.originator_id,
                "amount_minor": amount,
                "fee_minor": fee,
                "occurred_at": e.timestamp,
                "settlement_id": None,
                "hold": hold,
            }
        )

    @process_event.register
    def _captured(self, e: Payment.Captured, _: Tracking) -> None:
        hold = UNCONFIRMED if e.confirmation_required and not e.confirmed else None
        self._item(e, ItemKind.CAPTURE, e.originator_id, e.amount_minor, e.fee_minor, hold=hold)

    @process_event.register
    def _capture_confirmed(self, e: Payment.CaptureConfirmed, _: Tracking) -> None:
        self.view.hold(e.originator_id, None, _MONEY_KINDS, only=UNCONFIRMED)

    @process_event.register
    def _refunded(self, e: Payment.RefundSettled, _: Tracking) -> None:
        self._item(e, ItemKind.REFUND, e.refund_id, e.amount_minor, 0)

    def _dispute_item(self, e: Dispute.Opened | Dispute.Won, kind: ItemKind) -> None:
        # A won dispute's item names the dispute; its payment is on the opening item.
        payment_id = e.payment_id if isinstance(e, Dispute.Opened) else None
        self.view.add_item(
            {
                "kind": str(kind),
                "ref_id": e.originator_id,
                "merchant_id": e.merchant_id,
                "currency": e.currency,
                "payment_id": payment_id,
                "amount_minor": e.amount_minor,
                "fee_minor": e.fee_minor,
                "occurred_at": e.timestamp,
                "settlement_id": None,
                "hold": None,
            }
        )

    @process_event.register
    def _dispute_opened(self, e: Dispute.Opened, _: Tracking) -> None:
        self._dispute_item(e, ItemKind.DISPUTE)

    @process_event.register
    def _dispute_won(self, e: Dispute.Won, _: Tracking) -> None:
        self._dispute_item(e, ItemKind.DISPUTE_WON)

    # Holds: a refused capture waits, with its refunds, until an operator resolves it.

    @process_event.register
    def _relay_failed(self, e: Payment.RelayFailed, _: Tracking) -> None:
        if e.operation == "capture":
            self.view.hold(e.originator_id, str(SettlementHold.CAPTURE_REFUSED), _MONEY_KINDS)

    @process_event.register
    def _relay_retried(self, e: Payment.RelayRetried, _: Tracking) -> None:
        if e.succeeded:
            self.view.hold(e.originator_id, None, _MONEY_KINDS)

    @process_event.register
    def _capture_reversed(self, e: Payment.CaptureReversed, _: Tracking) -> None:
        if e.settled_in is None:  # never settled: it never will be
            self.view.hold(e.originator_id, _REVERSED, frozenset({str(ItemKind.CAPTURE)}))
            return
        # Paid out already: the merchant owes it back, from the next settlement (a fee
        # is never above its capture, so this is a debit, or nothing at all).
        if e.amount_minor == e.fee_minor:
            return
        payment = self.view.payments.get(e.originator_id)
        self.view.add_item(
            {
                "kind": str(ItemKind.CORRECTION),
                "ref_id": e.originator_id,
                "merchant_id": payment["merchant_id"],
                "currency": payment["currency"],
                "payment_id": e.originator_id,
                "amount_minor": -(e.amount_minor - e.fee_minor),
                "fee_minor": 0,
                "occurred_at": e.timestamp,
                "settlement_id": None,
                "hold": None,
            }
        )

    @process_event.register
    def _opened(self, e: Settlement.Opened, _: Tracking) -> None:
        self.view.settlements.add(
            {
                "id": e.originator_id,
                "merchant_id": e.merchant_id,
                "currency": e.currency,
                "cutoff": e.cutoff,
                "status": str(SettlementStatus.OPEN),
                "gross_minor": 0,
                "refunds_minor": 0,
                "fees_minor": 0,
                "carried_in_minor": 0,
                "disputes_minor": 0,
                "net_minor": 0,
                "items_count": 0,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
                "version": e.originator_version,
            }
        )

    def _change(self, e: Settlement.Event, **values: Any) -> dict[str, Any]:
        return self.view.settlements.change(
            e.originator_id, updated_at=e.timestamp, version=e.originator_version, **values
        )

    @process_event.register
    def _closed(self, e: Settlement.Closed, _: Tracking) -> None:
        self._change(
            e,
            status=str(SettlementStatus.CLOSED),
            waiting_reason=None,
            gross_minor=e.gross_minor,
            refunds_minor=e.refunds_minor,
            fees_minor=e.fees_minor,
            carried_in_minor=e.carried_in_minor,
            disputes_minor=_disputes_minor(e.items),
            net_minor=e.net_minor,
            items_count=len(e.items),
        )
        for item in e.items:
            self.view.assign((str(item["kind"]), UUID(item["ref_id"])), e.originator_id)

    @process_event.register
    def _carried(self, e: Settlement.CarriedForward, _: Tracking) -> None:
        row = self._change(e, status=str(SettlementStatus.CARRIED_FORWARD))
        if e.amount_minor == 0:
            return  # nothing to carry
        self.view.add_item(
            {
                "kind": str(ItemKind.CARRIED_FORWARD),
                "ref_id": e.originator_id,
                "merchant_id": row["merchant_id"],
                "currency": row["currency"],
                "payment_id": None,
                "amount_minor": e.amount_minor,
                "fee_minor": 0,
                "occurred_at": e.timestamp,
                "settlement_id": None,
                "hold": None,
            }
        )

    @process_event.register
    def _rate_awaited(self, e: Settlement.RateAwaited, _: Tracking) -> None:
        # Shown as its own status; the aggregate stays open until a rate converts it.
        self._change(e, status=AWAITING_RATE, waiting_reason=e.reason)

    @process_event.register
    def _superseded(self, e: Settlement.Superseded, _: Tracking) -> None:
        self._change(
            e, status=str(SettlementStatus.SUPERSEDED), waiting_reason=None, superseded_by=e.by
        )

    @process_event.register
    def _converted(self, e: Settlement.Converted, _: Tracking) -> None:
        self._change(
            e,
            payout_currency=e.payout_currency,
            payout_minor=e.payout_minor,
            fx_pair=e.pair,
            fx_rate=Decimal(e.rate),
            fx_rate_valid_from=e.rate_valid_from,
            fx_difference_minor=e.fx_difference_minor,
        )

    @process_event.register
    def _paid(self, e: Settlement.Paid, _: Tracking) -> None:
        self._change(e, status=str(SettlementStatus.PAID), payout_reference=e.payout_reference)

    @process_event.register
    def _failed(self, e: Settlement.Failed, _: Tracking) -> None:
        self._change(e, status=str(SettlementStatus.FAILED), failure_reason=e.reason)
        for key in self.view.held_by(e.originator_id):
            self.view.assign(key, None)

    # Last: follows exactly the events handled above.
    topics = handled_topics(process_event)


def _disputes_minor(items: list[dict[str, Any]]) -> int:
    """The disputes' share of a settlement's net (a column of its own, migration 016)."""
    settled = (Item.from_dict(item) for item in items)
    return sum(item.net_minor for item in settled if item.kind in DISPUTE_KINDS)
