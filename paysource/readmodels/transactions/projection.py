"""The `transactions` read model's writer: one row per money movement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.eventlog import Event
from paysource.application.topics import handled_topics
from paysource.domain.payment import Payment
from paysource.domain.settlement import Settlement
from paysource.readmodels.rows import Rows, copy_rows
from paysource.readmodels.transactions.schema import PAYMENTS, TRANSACTIONS
from paysource.readmodels.view import View, changed_ids

_ROW_NAMESPACE = UUID("5b0f8f3c-2f7e-4f6a-8a1d-7c9e2b4a6d10")


class TransactionsView(View):
    name: ClassVar[str] = "transactions"
    tables = (PAYMENTS.name, TRANSACTIONS.name)

    def begin_batch(self) -> None:
        self.payments = Rows(PAYMENTS)
        self._rows: list[tuple[Any, ...]] = []

    def prefetch(self, events: Sequence[Event]) -> None:
        self.payments.load(self.cursor, changed_ids(events, Payment.Event, Payment.Created))

    def movement(
        self,
        event: Payment.Event,
        kind: str,
        status: str,
        amount_minor: int,
        *,
        fee_minor: int = 0,
        refund_id: UUID | None = None,
    ) -> None:
        payment = self.payments.get(event.originator_id)
        self._rows.append(
            (
                uuid5(_ROW_NAMESPACE, f"{event.originator_id}:{event.originator_version}"),
                payment["merchant_id"],
                payment["customer_id"],
                event.originator_id,
                refund_id,
                kind,
                status,
                amount_minor,
                fee_minor,
                payment["currency"],
                event.timestamp,
                None,
            )
        )

    def payout(self, event: Settlement.Paid | Settlement.Failed, status: str) -> None:
        self._rows.append(
            (
                uuid5(_ROW_NAMESPACE, f"{event.originator_id}:{event.originator_version}"),
                event.merchant_id,
                None,
                None,
                None,
                "payout",
                status,
                event.amount_minor,
                0,
                event.currency,
                event.timestamp,
                event.originator_id,
            )
        )

    def flush(self) -> None:
        self.payments.flush(self.cursor)
        copy_rows(self.cursor, TRANSACTIONS.name, TRANSACTIONS.columns, self._rows)


class TransactionsProjection(Projection[TransactionsView]):
    name = "transactions"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events that move no money."""

    @process_event.register
    def _created(self, e: Payment.Created, _: Tracking) -> None:
        self.view.payments.add(
            {
                "id": e.originator_id,
                "merchant_id": e.merchant_id,
                "customer_id": e.customer_id,
                "currency": e.currency,
                "amount_minor": e.amount_minor,
            }
        )

    @process_event.register
    def _authorized(self, e: Payment.Authorized, _: Tracking) -> None:
        amount = self.view.payments.get(e.originator_id)["amount_minor"]
        self.view.movement(e, "authorization", "succeeded", amount)

    @process_event.register
    def _captured(self, e: Payment.Captured, _: Tracking) -> None:
        self.view.movement(e, "capture", "succeeded", e.amount_minor, fee_minor=e.fee_minor)

    @process_event.register
    def _canceled(self, e: Payment.Canceled, _: Tracking) -> None:
        if e.released_minor > 0:  # a risk block never held money
            kind = "expiry" if e.reason == "expired" else "cancellation"
            self.view.movement(e, kind, "succeeded", e.released_minor)

    @process_event.register
    def _refund_settled(self, e: Payment.RefundSettled, _: Tracking) -> None:
        self.view.movement(e, "refund", "succeeded", e.amount_minor, refund_id=e.refund_id)

    @process_event.register
    def _refund_released(self, e: Payment.RefundReleased, _: Tracking) -> None:
        self.view.movement(e, "refund", "failed", e.amount_minor, refund_id=e.refund_id)

    @process_event.register
    def _payout(self, e: Settlement.Paid, _: Tracking) -> None:
        self.view.payout(e, "succeeded")

    @process_event.register
    def _payout_failed(self, e: Settlement.Failed, _: Tracking) -> None:
        self.view.payout(e, "failed")

    # Last: follows exactly the events handled above.
    topics = handled_topics(process_event)
