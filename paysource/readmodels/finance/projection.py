"""The `finance` read model's writer: daily volume per merchant, currency and UTC day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.eventlog import Event
from paysource.application.topics import handled_topics
from paysource.domain.payment import Payment
from paysource.readmodels.finance.schema import AMOUNTS, DAILY_VOLUME, PAYMENTS
from paysource.readmodels.rows import Rows
from paysource.readmodels.view import View, changed_ids


class FinanceView(View):
    name: ClassVar[str] = "finance"
    tables = (PAYMENTS.name, DAILY_VOLUME.name)

    def begin_batch(self) -> None:
        self.payments = Rows(PAYMENTS)
        self._deltas: dict[tuple[UUID, str, date], list[int]] = defaultdict(
            lambda: [0] * len(AMOUNTS)
        )

    def prefetch(self, events: Sequence[Event]) -> None:
        self.payments.load(self.cursor, changed_ids(events, Payment.Event, Payment.Created))

    def add(self, event: Payment.Event, **amounts: int) -> None:
        payment = self.payments.get(event.originator_id)
        key = (payment["merchant_id"], payment["currency"], event.timestamp.date())
        deltas = self._deltas[key]
        for name, value in amounts.items():
            deltas[AMOUNTS.index(name)] += value

    def flush(self) -> None:
        self.payments.flush(self.cursor)
        increments = ", ".join(f"{f} = daily_volume.{f} + excluded.{f}" for f in AMOUNTS)
        self.cursor.executemany(
            f"INSERT INTO daily_volume ({', '.join(DAILY_VOLUME.written)})"  # noqa: S608
            f" VALUES ({', '.join(['%s'] * len(DAILY_VOLUME.written))})"
            f" ON CONFLICT (merchant_id, currency, day) DO UPDATE SET {increments}",
            [(*key, *deltas) for key, deltas in sorted(self._deltas.items())],
        )


class FinanceProjection(Projection[FinanceView]):
    name = "finance"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events that do not change volume."""

    @process_event.register
    def _created(self, e: Payment.Created, _: Tracking) -> None:
        self.view.payments.add(
            {"id": e.originator_id, "merchant_id": e.merchant_id, "currency": e.currency}
        )

    @process_event.register
    def _captured(self, e: Payment.Captured, _: Tracking) -> None:
        self.view.add(e, captures_count=1, captures_minor=e.amount_minor, fees_minor=e.fee_minor)

    @process_event.register
    def _capture_reversed(self, e: Payment.CaptureReversed, _: Tracking) -> None:
        # On the reversal's day, beside the capture's: the statement's `capture_reversal`
        # and `fee_refund` lines, so a day's net is what moved the merchant's balance.
        self.view.add(
            e, reversals_count=1, reversals_minor=e.amount_minor, reversed_fees_minor=e.fee_minor
        )

    @process_event.register
    def _refund_settled(self, e: Payment.RefundSettled, _: Tracking) -> None:
        self.view.add(e, refunds_count=1, refunds_minor=e.amount_minor)

    # Last: follows exactly the events handled above.
    topics = handled_topics(process_event)
