"""The `finance` read model: daily volume per merchant, currency and UTC day."""

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
from paysource.application.topics import topics_of
from paysource.domain.payment import Payment
from paysource.readmodels.rows import Rows
from paysource.readmodels.view import View, changed_ids

_FIELDS = ("captures_count", "captures_minor", "refunds_count", "refunds_minor", "fees_minor")


class FinanceView(View):
    name: ClassVar[str] = "finance"
    tables = ("finance_payments", "daily_volume")

    def begin_batch(self) -> None:
        self.payments = Rows("finance_payments", ("id", "merchant_id", "currency"))
        self._deltas: dict[tuple[UUID, str, date], list[int]] = defaultdict(lambda: [0] * 5)

    def prefetch(self, events: Sequence[Event]) -> None:
        self.payments.load(self.cursor, changed_ids(events, Payment.Event, Payment.Created))

    def add(self, event: Payment.Event, **amounts: int) -> None:
        payment = self.payments.get(event.originator_id)
        key = (payment["merchant_id"], payment["currency"], event.timestamp.date())
        deltas = self._deltas[key]
        for name, value in amounts.items():
            deltas[_FIELDS.index(name)] += value

    def flush(self) -> None:
        self.payments.flush(self.cursor)
        increments = ", ".join(f"{f} = daily_volume.{f} + excluded.{f}" for f in _FIELDS)
        self.cursor.executemany(
            f"INSERT INTO daily_volume (merchant_id, currency, day, {', '.join(_FIELDS)})"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (merchant_id, currency, day) DO UPDATE SET {increments}",
            [(*key, *deltas) for key, deltas in sorted(self._deltas.items())],
        )

    # Reads ---------------------------------------------------------------------------

    def daily_volume(
        self,
        *,
        merchant_id: UUID | None,
        since: date,
        until: date,
        currency: str | None = None,
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Rows for days in [since, until], by day then merchant and currency."""
        where = ["day >= %s", "day <= %s"]
        params: list[Any] = [since, until]
        if merchant_id is not None:
            where.append("merchant_id = %s")
            params.append(merchant_id)
        if currency is not None:
            where.append("currency = %s")
            params.append(currency)
        query = (
            f"SELECT * FROM daily_volume WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY day, merchant_id, currency LIMIT %s"
        )
        with self.datastore.cursor() as curs:
            return list(curs.execute(query, (*params, limit)))


class FinanceProjection(Projection[FinanceView]):
    name = "finance"
    topics = topics_of(Payment.Created, Payment.Captured, Payment.RefundSettled)

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
    def _refund_settled(self, e: Payment.RefundSettled, _: Tracking) -> None:
        self.view.add(e, refunds_count=1, refunds_minor=e.amount_minor)
