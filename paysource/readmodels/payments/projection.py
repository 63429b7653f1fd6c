"""The `payments` read model's writer: one row per payment and per refund."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.eventlog import Event
from paysource.application.topics import event_topics
from paysource.domain.payment import Payment, PaymentStatus, SettlementHold
from paysource.domain.refund import Refund, RefundStatus
from paysource.readmodels.payments.schema import PAYMENTS, REFUNDS
from paysource.readmodels.rows import Rows
from paysource.readmodels.view import View, changed_ids


class PaymentsView(View):
    name: ClassVar[str] = "payments"
    tables = (PAYMENTS.name, REFUNDS.name)

    def begin_batch(self) -> None:
        self.payments = Rows(PAYMENTS, json_columns=("metadata", "relay_resolution"))
        self.refunds = Rows(REFUNDS)

    def prefetch(self, events: Sequence[Event]) -> None:
        self.payments.load(self.cursor, changed_ids(events, Payment.Event, Payment.Created))
        self.refunds.load(self.cursor, changed_ids(events, Refund.Event, Refund.Created))

    def flush(self) -> None:
        self.payments.flush(self.cursor)
        self.refunds.flush(self.cursor)

    def change_payment(self, event: Payment.Event, **values: Any) -> dict[str, Any]:
        return self.payments.change(
            event.originator_id,
            updated_at=event.timestamp,
            version=event.originator_version,
            **values,
        )

    def change_refund(self, event: Refund.Event, **values: Any) -> None:
        self.refunds.change(
            event.originator_id,
            updated_at=event.timestamp,
            version=event.originator_version,
            **values,
        )


class PaymentsProjection(Projection[PaymentsView]):
    name = "payments"
    topics = event_topics(Payment, Refund)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events that do not change this view."""

    @process_event.register
    def _created(self, e: Payment.Created, _: Tracking) -> None:
        self.view.payments.add(
            {
                "id": e.originator_id,
                "merchant_id": e.merchant_id,
                "customer_id": e.customer_id,
                "status": str(PaymentStatus.PROCESSING),
                "amount_minor": e.amount_minor,
                "currency": e.currency,
                "amount_capturable_minor": 0,
                "amount_captured_minor": 0,
                "amount_refunded_minor": 0,
                "amount_refund_pending_minor": 0,
                "fee_minor": 0,
                "capture_method": e.capture_method,
                "card_brand": e.card["brand"],
                "card_bin": e.card["bin"],
                "card_last4": e.card["last4"],
                "description": e.description,
                "metadata": e.metadata,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
                "version": e.originator_version,
                "relay_failures": [],
                "settlement_hold": None,
                "relay_resolution": None,
                "capture_confirmed_at": None,
            }
        )

    @process_event.register
    def _risk(self, e: Payment.RiskAssessed, _: Tracking) -> None:
        self.view.change_payment(
            e, risk_outcome=e.outcome, risk_score=e.score, risk_reasons=list(e.reasons)
        )

    @process_event.register
    def _authorized(self, e: Payment.Authorized, _: Tracking) -> None:
        row = self.view.payments.get(e.originator_id)
        self.view.change_payment(
            e,
            status=str(PaymentStatus.REQUIRES_CAPTURE),
            amount_capturable_minor=row["amount_minor"],
            authorized_at=e.timestamp,
        )

    @process_event.register
    def _declined(self, e: Payment.Declined, _: Tracking) -> None:
        self.view.change_payment(e, status=str(PaymentStatus.FAILED), decline_code=e.decline_code)

    @process_event.register
    def _captured(self, e: Payment.Captured, _: Tracking) -> None:
        self.view.change_payment(
            e,
            status=str(PaymentStatus.SUCCEEDED),
            amount_captured_minor=e.amount_minor,
            amount_capturable_minor=0,
            fee_minor=e.fee_minor,
        )

    @process_event.register
    def _capture_confirmed(self, e: Payment.CaptureConfirmed, _: Tracking) -> None:
        self.view.change_payment(e, capture_confirmed_at=e.timestamp)

    @process_event.register
    def _canceled(self, e: Payment.Canceled, _: Tracking) -> None:
        self.view.change_payment(
            e,
            status=str(PaymentStatus.CANCELED),
            cancellation_reason=e.reason,
            amount_capturable_minor=0,
        )

    @process_event.register
    def _relay_failed(self, e: Payment.RelayFailed, _: Tracking) -> None:
        row = self.view.payments.get(e.originator_id)
        failures = [*row["relay_failures"], e.operation]
        if e.operation != "capture":
            self.view.change_payment(e, relay_failures=failures)
            return
        hold = str(SettlementHold.CAPTURE_REFUSED)
        self.view.change_payment(e, relay_failures=failures, settlement_hold=hold)

    @process_event.register
    def _relay_retried(self, e: Payment.RelayRetried, _: Tracking) -> None:
        row = self.view.payments.get(e.originator_id)
        hold = None if e.succeeded else row["settlement_hold"]
        self.view.change_payment(e, settlement_hold=hold, relay_resolution=e.resolution)

    @process_event.register
    def _capture_reversed(self, e: Payment.CaptureReversed, _: Tracking) -> None:
        self.view.change_payment(e, settlement_hold=None, relay_resolution=e.resolution)

    @process_event.register
    def _refund_reserved(self, e: Payment.RefundReserved, _: Tracking) -> None:
        row = self.view.payments.get(e.originator_id)
        pending = row["amount_refund_pending_minor"] + e.amount_minor
        self.view.change_payment(e, amount_refund_pending_minor=pending)

    @process_event.register
    def _refund_settled(self, e: Payment.RefundSettled, _: Tracking) -> None:
        row = self.view.payments.get(e.originator_id)
        self.view.change_payment(
            e,
            amount_refund_pending_minor=row["amount_refund_pending_minor"] - e.amount_minor,
            amount_refunded_minor=row["amount_refunded_minor"] + e.amount_minor,
        )

    @process_event.register
    def _refund_released(self, e: Payment.RefundReleased, _: Tracking) -> None:
        row = self.view.payments.get(e.originator_id)
        pending = row["amount_refund_pending_minor"] - e.amount_minor
        self.view.change_payment(e, amount_refund_pending_minor=pending)

    @process_event.register
    def _refund_created(self, e: Refund.Created, _: Tracking) -> None:
        self.view.refunds.add(
            {
                "id": e.originator_id,
                "payment_id": e.payment_id,
                "merchant_id": e.merchant_id,
                "status": str(RefundStatus.PENDING),
                "amount_minor": e.amount_minor,
                "currency": e.currency,
                "reason": e.reason,
                "failure_code": None,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
                "version": e.originator_version,
            }
        )

    @process_event.register
    def _refund_succeeded(self, e: Refund.Succeeded, _: Tracking) -> None:
        self.view.change_refund(e, status=str(RefundStatus.SUCCEEDED))

    @process_event.register
    def _refund_failed(self, e: Refund.Failed, _: Tracking) -> None:
        self.view.change_refund(e, status=str(RefundStatus.FAILED), failure_code=e.failure_code)
