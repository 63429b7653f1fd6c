"""The `payments` read model: one row per payment and per refund, for lists and sweeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg.types.json import Jsonb

from paysource.application.errors import NotFound
from paysource.domain.payment import Payment, PaymentStatus
from paysource.domain.refund import Refund, RefundStatus
from paysource.projections.topics import event_topics
from paysource.projections.view import View

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    has_more: bool


class PaymentsView(View):
    tables = ("payments", "refunds")

    # Writes (inside a batch) --------------------------------------------------------

    def insert_payment(self, event: Payment.Created) -> None:
        self.execute(
            "INSERT INTO payments (id, merchant_id, customer_id, status, amount_minor, currency,"
            " capture_method, card_brand, card_bin, card_last4, description, metadata,"
            " created_at, updated_at, version)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                event.originator_id,
                event.merchant_id,
                event.customer_id,
                str(PaymentStatus.PROCESSING),
                event.amount_minor,
                event.currency,
                event.capture_method,
                event.card["brand"],
                event.card["bin"],
                event.card["last4"],
                event.description,
                Jsonb(event.metadata),
                event.timestamp,
                event.timestamp,
                event.originator_version,
            ),
        )

    def update_payment(self, event: Payment.Event, assignments: str, *params: Any) -> None:
        """Apply `assignments` (trusted SQL from this module) to the event's payment."""
        self.execute(
            f"UPDATE payments SET {assignments}, updated_at = %s, version = %s "  # noqa: S608
            "WHERE id = %s",
            (*params, event.timestamp, event.originator_version, event.originator_id),
        )

    def insert_refund(self, event: Refund.Created) -> None:
        self.execute(
            "INSERT INTO refunds (id, payment_id, merchant_id, status, amount_minor, currency,"
            " reason, created_at, updated_at, version)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                event.originator_id,
                event.payment_id,
                event.merchant_id,
                str(RefundStatus.PENDING),
                event.amount_minor,
                event.currency,
                event.reason,
                event.timestamp,
                event.timestamp,
                event.originator_version,
            ),
        )

    def update_refund(self, event: Refund.Event, status: RefundStatus, failure: str | None) -> None:
        self.execute(
            "UPDATE refunds SET status = %s, failure_code = %s, updated_at = %s, version = %s"
            " WHERE id = %s",
            (str(status), failure, event.timestamp, event.originator_version, event.originator_id),
        )

    # Reads ---------------------------------------------------------------------------

    def list_payments(
        self,
        *,
        merchant_id: UUID | None,
        limit: int,
        status: str | None = None,
        customer_id: UUID | None = None,
        starting_after: UUID | None = None,
    ) -> Page:
        """Newest first, keyset-paginated by (created_at, id). None merchant: all."""
        where, params = ["TRUE"], []
        for column, value in (
            ("merchant_id", merchant_id),
            ("status", status),
            ("customer_id", customer_id),
        ):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if starting_after is not None:
            where.append("(created_at, id) < (SELECT created_at, id FROM payments WHERE id = %s)")
            params.append(starting_after)
        limit = max(1, min(limit, MAX_PAGE))
        query = (
            f"SELECT * FROM payments WHERE {' AND '.join(where)}"  # noqa: S608  # fixed columns
            " ORDER BY created_at DESC, id DESC LIMIT %s"
        )
        with self.datastore.cursor() as curs:
            rows = curs.execute(query, (*params, limit + 1)).fetchall()
        return Page(rows=list(rows[:limit]), has_more=len(rows) > limit)

    def _cursor_of(self, payment_id: UUID, merchant_id: UUID | None) -> list[Any]:
        """The (created_at, id) of a cursor payment the caller may see, else NotFound."""
        row = self.payment_row(payment_id)
        if row is None or merchant_id not in (None, row["merchant_id"]):
            raise NotFound("no such payment to start after")
        return [row["created_at"], row["id"]]

    def payment_row(self, payment_id: UUID) -> dict[str, Any] | None:
        with self.datastore.cursor() as curs:
            return curs.execute("SELECT * FROM payments WHERE id = %s", (payment_id,)).fetchone()

    def count_between(
        self, *, merchant_id: UUID, customer_id: UUID, since: datetime, until: datetime
    ) -> int:
        with self.datastore.cursor() as curs:
            row = curs.execute(
                "SELECT count(*) AS n FROM payments WHERE merchant_id = %s"
                " AND customer_id = %s AND created_at >= %s AND created_at < %s",
                (merchant_id, customer_id, since, until),
            ).fetchone()
        return int(row["n"]) if row else 0

    def expired_holds(self, *, authorized_before: datetime, limit: int) -> list[UUID]:
        with self.datastore.cursor() as curs:
            rows = curs.execute(
                "SELECT id FROM payments WHERE status = 'requires_capture'"
                " AND authorized_at < %s ORDER BY authorized_at LIMIT %s",
                (authorized_before, limit),
            ).fetchall()
        return [row["id"] for row in rows]


class PaymentsProjection(Projection[PaymentsView]):
    name = "payments"
    topics = event_topics(Payment, Refund)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events that do not change this view."""

    @process_event.register
    def _created(self, e: Payment.Created, _: Tracking) -> None:
        self.view.insert_payment(e)

    @process_event.register
    def _risk(self, e: Payment.RiskAssessed, _: Tracking) -> None:
        self.view.update_payment(
            e,
            "risk_outcome = %s, risk_score = %s, risk_reasons = %s",
            e.outcome,
            e.score,
            e.reasons,
        )

    @process_event.register
    def _authorized(self, e: Payment.Authorized, _: Tracking) -> None:
        self.view.update_payment(
            e,
            "status = %s, amount_capturable_minor = amount_minor, authorized_at = %s",
            str(PaymentStatus.REQUIRES_CAPTURE),
            e.timestamp,
        )

    @process_event.register
    def _declined(self, e: Payment.Declined, _: Tracking) -> None:
        self.view.update_payment(
            e, "status = %s, decline_code = %s", str(PaymentStatus.FAILED), e.decline_code
        )

    @process_event.register
    def _captured(self, e: Payment.Captured, _: Tracking) -> None:
        self.view.update_payment(
            e,
            "status = %s, amount_captured_minor = %s, amount_capturable_minor = 0, fee_minor = %s",
            str(PaymentStatus.SUCCEEDED),
            e.amount_minor,
            e.fee_minor,
        )

    @process_event.register
    def _canceled(self, e: Payment.Canceled, _: Tracking) -> None:
        self.view.update_payment(
            e,
            "status = %s, cancellation_reason = %s, amount_capturable_minor = 0",
            str(PaymentStatus.CANCELED),
            e.reason,
        )

    @process_event.register
    def _refund_reserved(self, e: Payment.RefundReserved, _: Tracking) -> None:
        self.view.update_payment(
            e, "amount_refund_pending_minor = amount_refund_pending_minor + %s", e.amount_minor
        )

    @process_event.register
    def _refund_settled(self, e: Payment.RefundSettled, _: Tracking) -> None:
        self.view.update_payment(
            e,
            "amount_refund_pending_minor = amount_refund_pending_minor - %s,"
            " amount_refunded_minor = amount_refunded_minor + %s",
            e.amount_minor,
            e.amount_minor,
        )

    @process_event.register
    def _refund_released(self, e: Payment.RefundReleased, _: Tracking) -> None:
        self.view.update_payment(
            e, "amount_refund_pending_minor = amount_refund_pending_minor - %s", e.amount_minor
        )

    @process_event.register
    def _refund_created(self, e: Refund.Created, _: Tracking) -> None:
        self.view.insert_refund(e)

    @process_event.register
    def _refund_succeeded(self, e: Refund.Succeeded, _: Tracking) -> None:
        self.view.update_refund(e, RefundStatus.SUCCEEDED, None)

    @process_event.register
    def _refund_failed(self, e: Refund.Failed, _: Tracking) -> None:
        self.view.update_refund(e, RefundStatus.FAILED, e.failure_code)
