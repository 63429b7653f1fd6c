"""The `disputes` read model's writer: one row per dispute, as its events leave it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.eventlog import Event
from paysource.application.topics import handled_topics
from paysource.domain.dispute import Dispute, DisputeStatus
from paysource.readmodels.disputes.schema import DISPUTES
from paysource.readmodels.rows import Rows
from paysource.readmodels.view import View, changed_ids


class DisputesView(View):
    name: ClassVar[str] = "disputes"
    tables = (DISPUTES.name,)

    def begin_batch(self) -> None:
        self.disputes = Rows(DISPUTES)

    def prefetch(self, events: Sequence[Event]) -> None:
        self.disputes.load(self.cursor, changed_ids(events, Dispute.Event, Dispute.Opened))

    def flush(self) -> None:
        self.disputes.flush(self.cursor)


class DisputesProjection(Projection[DisputesView]):
    name = "disputes"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other aggregates."""

    @process_event.register
    def _opened(self, e: Dispute.Opened, _: Tracking) -> None:
        self.view.disputes.add(
            {
                "id": e.originator_id,
                "merchant_id": e.merchant_id,
                "payment_id": e.payment_id,
                "status": str(DisputeStatus.NEEDS_RESPONSE),
                "amount_minor": e.amount_minor,
                "fee_minor": e.fee_minor,
                "currency": e.currency,
                "reason": e.reason,
                "source": e.source,
                "due_by": e.due_by,
                "evidence_submitted_at": None,
                "outcome_reason": None,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
                "version": e.originator_version,
            }
        )

    def _change(self, e: Dispute.Event, **values: Any) -> None:
        self.view.disputes.change(
            e.originator_id, updated_at=e.timestamp, version=e.originator_version, **values
        )

    @process_event.register
    def _evidence(self, e: Dispute.EvidenceSubmitted, _: Tracking) -> None:
        self._change(e, status=str(DisputeStatus.UNDER_REVIEW), evidence_submitted_at=e.timestamp)

    @process_event.register
    def _evidence_erased(self, e: Dispute.EvidenceErased, _: Tracking) -> None:
        self._change(e)  # no column holds evidence: its version moves, as the API's does

    @process_event.register
    def _won(self, e: Dispute.Won, _: Tracking) -> None:
        self._change(e, status=str(DisputeStatus.WON), outcome_reason=e.outcome_reason)

    @process_event.register
    def _lost(self, e: Dispute.Lost, _: Tracking) -> None:
        self._change(e, status=str(DisputeStatus.LOST), outcome_reason=e.outcome_reason)

    # Last: follows exactly the events handled above.
    topics = handled_topics(process_event)
