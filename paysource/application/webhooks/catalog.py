"""Which domain events become webhook events, and how their objects look in them.

One entry per kind of object: its aggregate class, how to render it (the same JSON as
the REST API, so a webhook's `data.object` equals a GET of the object at that
version) and which of its events are webhook events under which type. Adding a kind
(settlements) is one more `kinds` entry in `standard_catalog`.

This module imports the API's representations on purpose: the webhook payload *is*
the REST representation, and one function renders both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.utils import get_topic

from paysource.application import representations as rep
from paysource.application.ids import Kind, encode
from paysource.application.topics import event_topics
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.dispute import Dispute
from paysource.domain.payment import Payment
from paysource.domain.refund import Refund
from paysource.domain.settlement import Settlement
from paysource.domain.webhook_endpoint import WebhookEndpoint

# Fixed forever: webhook event ids are uuid5(this, "<object id>:<version>").
_EVENT_NAMESPACE = UUID("2b7e6a0c-5d1f-4c8e-9f3a-6e2d8b1c4a57")
EVENT_ID_PREFIX = "evt"

Render = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ObjectKind:
    """A kind of object whose state changes are sent as webhooks."""

    name: str  # "payment": the prefix of its event types
    aggregate: type[PaysourceAggregate]
    render: Render
    events: Mapping[type[PaysourceAggregate.Event], str]  # event class → "payment.succeeded"

    def merchant_of(self, aggregate: PaysourceAggregate) -> UUID:
        merchant_id = getattr(aggregate, "merchant_id", None)
        assert isinstance(merchant_id, UUID), f"a {self.name} belongs to a merchant"
        return merchant_id


class WebhookCatalog:
    def __init__(self, kinds: Iterable[ObjectKind]) -> None:
        self.kinds = list(kinds)
        self._by_event: dict[type[object], tuple[ObjectKind, str]] = {
            event_class: (kind, event_type)
            for kind in self.kinds
            for event_class, event_type in kind.events.items()
        }
        for kind in self.kinds:
            bad = [t for t in kind.events.values() if not t.startswith(f"{kind.name}.")]
            assert not bad, f"{kind.name} event types must start with '{kind.name}.': {bad}"

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(event_type for _, event_type in self._by_event.values())

    def lookup(self, event: object) -> tuple[ObjectKind, str] | None:
        """The kind and webhook type of a domain event, or None if it is not sent."""
        return self._by_event.get(type(event))

    def topics(self) -> tuple[str, ...]:
        """What the outbox follows: the mapped events and every endpoint event."""
        mapped = {get_topic(event_class) for event_class in self._by_event}
        return tuple(sorted(mapped | set(event_topics(WebhookEndpoint))))


def webhook_event_id(object_id: UUID, version: int) -> UUID:
    """Stable: the same state change always has the same webhook event id."""
    return uuid5(_EVENT_NAMESPACE, f"{object_id}:{version}")


def settlement_snapshot(settlement: Settlement) -> dict[str, Any]:
    """A settlement as the REST list shows it: without its items, which are unbounded
    (receivers GET /v1/settlements/{id} for them); a webhook body stays small."""
    return {**rep.settlement(settlement, with_items=False), "items_count": len(settlement.items)}


def standard_catalog() -> WebhookCatalog:
    return WebhookCatalog(
        [
            ObjectKind(
                "payment",
                Payment,
                rep.payment,
                {
                    Payment.Created: "payment.created",
                    Payment.Authorized: "payment.authorized",
                    Payment.Captured: "payment.succeeded",
                    Payment.Declined: "payment.failed",
                    Payment.Canceled: "payment.canceled",
                    Payment.RefundSettled: "payment.refunded",
                    # An operator resolved a refused capture (retried it, or reversed
                    # it): `relay_resolution` on the payment says which, and how.
                    Payment.RelayRetried: "payment.relay_resolved",
                    Payment.CaptureReversed: "payment.relay_resolved",
                },
            ),
            ObjectKind(
                "refund",
                Refund,
                rep.refund,
                {
                    Refund.Created: "refund.created",
                    Refund.Succeeded: "refund.succeeded",
                    Refund.Failed: "refund.failed",
                },
            ),
            ObjectKind(
                "settlement",
                Settlement,
                settlement_snapshot,
                {
                    Settlement.Closed: "settlement.closed",
                    Settlement.CarriedForward: "settlement.carried_forward",
                    Settlement.Paid: "settlement.paid",
                    Settlement.Failed: "settlement.failed",
                    Settlement.Superseded: "settlement.superseded",
                },
            ),
            ObjectKind(
                "dispute",
                Dispute,
                rep.dispute,
                {
                    Dispute.Opened: "dispute.created",
                    Dispute.EvidenceSubmitted: "dispute.evidence_submitted",
                    Dispute.Won: "dispute.won",
                    Dispute.Lost: "dispute.lost",
                },
            ),
        ]
    )


def envelope(
    *,
    event_id: UUID,
    event_type: str,
    merchant_id: UUID,
    created: datetime,
    object_version: int,
    snapshot: dict[str, Any],
) -> dict[str, Any]:
    """The body of a webhook: the event, and the object as that event left it."""
    return {
        "id": encode(EVENT_ID_PREFIX, event_id),
        "object": "event",
        "type": event_type,
        "created": rep.timestamp(created),
        "merchant": encode(Kind.MERCHANT, merchant_id),
        "object_version": object_version,
        "data": {"object": snapshot},
    }
