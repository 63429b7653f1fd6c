"""Disputes' process managers: the acquirer's chargeback notices, and their due dates.

    capture confirmed ─▶ ask the acquirer for a chargeback ─▶ Dispute opened
    every sweep: disputes past their due date without evidence ─▶ lost (`no_response`)

A capture is asked about once the acquirer has confirmed it: its `CaptureConfirmed`,
or a `Captured` that needs none (confirmed as it was recorded, or from before
confirmations). A chargeback is of money the acquirer moved, so a capture it may still
refuse cannot be disputed (`check_disputable`); its notice is asked for when the
confirmation comes, and never if the capture is refused and reversed.

A notice opens the dispute in the same transaction as the follower's tracking
position, so each confirmed capture is asked about, and its dispute opened, exactly
once; the dispute's id derives from the payment's, so a dispute an operator opened
first is found and left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from paysource.application.disputes import (
    SOURCE_ACQUIRER,
    DisputeNotice,
    DisputeNotices,
    DisputeService,
)
from paysource.application.eventlog import Event, EventStore
from paysource.application.ports import Clock
from paysource.domain.dispute import Dispute, dispute_id
from paysource.domain.errors import DomainError
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.payment import Payment
from paysource.processes.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class DisputeNoticeProcessor:
    name = "dispute-notices"
    topics = (get_topic(Payment.Captured), get_topic(Payment.CaptureConfirmed))

    def __init__(self, store: EventStore, notices: DisputeNotices, clock: Clock) -> None:
        self._store = store
        self._notices = notices
        self._clock = clock

    def position(self) -> int:
        return self._store.position(self.name)

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        # Ask the acquirer about the whole batch first (one round trip): only the few
        # payments it disputes are then loaded, not every captured one.
        confirmed = list(dict.fromkeys(e.originator_id for e in events if _money_moved(e)))
        notices = self._notices.dispute_notices(payment_ids=confirmed) if confirmed else {}
        uow = UnitOfWork(self._store)
        uow.preload([*notices, *(dispute_id(i) for i in notices)])
        opened = [
            dispute
            for payment_id, notice in notices.items()
            if (payment := self._undisputed(payment_id, uow)) is not None
            and (dispute := self._open(payment, notice)) is not None
        ]
        # Only the disputes are new: the payments are read, never changed, here.
        self._store.save(*opened, tracking=tracking)

    @staticmethod
    def _undisputed(payment_id: UUID, uow: UnitOfWork) -> Payment | None:
        payment = uow.get(payment_id, Payment)
        if payment is None or payment.acquirer_reference is None:
            return None
        return None if uow.get(dispute_id(payment_id), Dispute) else payment

    def _open(self, payment: Payment, notice: DisputeNotice) -> Dispute | None:
        amount = None
        if notice.amount_minor is not None:
            amount = Money(notice.amount_minor, payment.currency)
        meta = Meta.system("dispute-notices", at=self._clock.now())
        try:
            return Dispute.open(
                payment=payment,
                amount=amount,
                reason=notice.reason,
                source=SOURCE_ACQUIRER,
                request_hash=f"acquirer:{payment.id}",
                meta=meta,
            )
        except DomainError as refused:  # refunded in full meanwhile: nothing to take back
            log.warning("chargeback of payment %s not opened: %s", payment.id, refused)
            return None


def _money_moved(event: Event) -> bool:
    """Whether the event says the acquirer has made the capture: a `CaptureConfirmed`,
    or a `Captured` confirmed as it was recorded (or needing no confirmation). An
    unconfirmed `Captured` waits for its `CaptureConfirmed`."""
    if isinstance(event, Payment.Captured):
        return event.confirmed or not event.confirmation_required
    return isinstance(event, Payment.CaptureConfirmed)


class PastDue(Protocol):
    def past_due(self, *, now: datetime, limit: int = 500) -> list[dict[str, object]]: ...


class DisputeExpiry:
    """Loses the disputes whose due date passed with no evidence (docs/disputes.md)."""

    def __init__(self, disputes: DisputeService, rows: PastDue, clock: Clock) -> None:
        self._disputes = disputes
        self._rows = rows
        self._clock = clock

    def sweep(self) -> int:
        meta = Meta.system("dispute-expiry", at=self._clock.now())
        expired = self._disputes.expire_due(self._due, meta)
        if expired:
            log.info("%d disputes lost for want of evidence by their due date", len(expired))
        return len(expired)

    def _due(self, now: datetime) -> list[UUID]:
        return [UUID(str(row["id"])) for row in self._rows.past_due(now=now)]
