"""The `events` read model's writer: one index row per event of a public object.

Only creating events name their merchant (a merchant's own events are its id), so a
later event finds it in the index row of its aggregate's first event — written in an
earlier batch, or earlier in this one. Positions are not on decoded events: the rows
look their position up in `paysource_events` by (originator id, version), its primary
key, which gives each event's notification id in the same statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.eventlog import Event
from paysource.application.topics import event_topics
from paysource.application.webhooks.catalog import webhook_event_id
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.customer import Customer
from paysource.domain.merchant import Merchant
from paysource.domain.payment import Payment
from paysource.domain.refund import Refund
from paysource.domain.settlement import Settlement
from paysource.domain.webhook_endpoint import WebhookEndpoint
from paysource.readmodels.events.schema import EVENT_INDEX
from paysource.readmodels.view import View

# The public objects whose events the feed shows, by the kind name the API uses.
# Internal aggregates (idempotency claims, API keys, settlement item claims) are left
# out: they are bookkeeping, and an API key's events would show key digests.
OBJECT_KINDS: dict[type[PaysourceAggregate], str] = {
    Payment: "payment",
    Refund: "refund",
    Settlement: "settlement",
    Customer: "customer",
    Merchant: "merchant",
    WebhookEndpoint: "webhook_endpoint",
}

_COLUMNS = ", ".join(EVENT_INDEX.columns)
_INSERT = (
    f"INSERT INTO {EVENT_INDEX.name} ({_COLUMNS})"  # noqa: S608  # fixed names
    # A lookup of the primary key per row: as a join, the planner (which cannot see
    # how long the arrays are) hashed the whole log for every batch of a rebuild.
    " SELECT (SELECT e.notification_id FROM paysource_events e"
    " WHERE e.originator_id = v.object_id AND e.originator_version = v.version),"
    " v.merchant_id, v.object_kind, v.object_id, v.version,"
    " v.type, v.occurred_at, v.actor, v.actor_id, v.request_id, v.traceparent, v.event_id"
    # The arrays go in binary (%b): dumped as text they cost 19-21 µs of CPU per row,
    # in binary 4 (a rebuild writes a row per public event; bench/README.md).
    " FROM unnest(%b::uuid[], %b::text[], %b::uuid[], %b::bigint[], %b::text[],"
    " %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[], %b::uuid[])"
    " AS v(merchant_id, object_kind, object_id, version, type, occurred_at, actor,"
    " actor_id, request_id, traceparent, event_id)"
)


def object_kind(event: Event) -> str:
    try:
        return _KIND_OF_TYPE[type(event)]
    except KeyError:
        pass
    for aggregate, kind in OBJECT_KINDS.items():
        if isinstance(event, aggregate.Event):
            _KIND_OF_TYPE[type(event)] = kind  # once per event class: a rebuild asks often
            return kind
    raise AssertionError(f"not a public object's event: {type(event).__qualname__}")


_KIND_OF_TYPE: dict[type[Any], str] = {}


def _own_merchant(event: Event) -> UUID | None:
    """The merchant an event names itself, if it does (creating events, merchants')."""
    if isinstance(event, Merchant.Event):
        return event.originator_id
    merchant: UUID | None = getattr(event, "merchant_id", None)
    return merchant


class EventsView(View):
    name: ClassVar[str] = "events"
    tables = (EVENT_INDEX.name,)

    def begin_batch(self) -> None:
        self._rows: list[tuple[Any, ...]] = []
        self._merchants: dict[UUID, UUID] = {}

    def prefetch(self, events: Sequence[Event]) -> None:
        unknown = [e.originator_id for e in events if _own_merchant(e) is None]
        if unknown:
            found = self.cursor.execute(
                f"SELECT object_id, merchant_id FROM {EVENT_INDEX.name}"  # noqa: S608
                " WHERE object_id = ANY(%b) AND version = 1",
                (list(set(unknown)),),
            ).fetchall()
            self._merchants.update({row["object_id"]: row["merchant_id"] for row in found})

    def add(self, event: PaysourceAggregate.Event) -> None:
        merchant = _own_merchant(event)
        if merchant is None:
            # Its first event came earlier: a missing one is a bug, so this raises
            # (and the projection stops) rather than index an event under no one.
            merchant = self._merchants[event.originator_id]
        self._merchants[event.originator_id] = merchant
        meta = event.meta
        self._rows.append(
            (
                merchant,
                object_kind(event),
                event.originator_id,
                event.originator_version,
                type(event).__qualname__,
                event.timestamp,
                meta.get("actor", "system"),
                meta.get("actor_id", ""),
                meta.get("request_id"),
                meta.get("traceparent"),
                # The feed's cursor for merchants (its webhook's id): a lookup needs it
                # stored, as uuid5 cannot be reversed.
                webhook_event_id(event.originator_id, event.originator_version),
            )
        )

    def flush(self) -> None:
        if self._rows:
            # One array per column: one statement per batch, however many events.
            self.execute(_INSERT, [list(column) for column in zip(*self._rows, strict=True)])


class EventsProjection(Projection[EventsView]):
    name = "events"
    topics = event_topics(*OBJECT_KINDS)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Every event of a public object is indexed, whatever its type."""
        self.view.add(domain_event)
