"""The webhook outbox: turns state changes in the log into webhook events and deliveries.

It follows the catalog's events and every WebhookEndpoint event, in log order. For a
state change of an object it renders the object *at that version*, and queues one
delivery per enabled endpoint of the object's merchant that subscribes to the type.
Endpoints are judged as they were at that point of the log, so the outcome is a
function of the log alone. Events copied in by a merchant's move are not followed
(the job skips `moved_in_events`, see `processes.catalog`): the move copied their
webhook events and deliveries, queued by the source as of their own positions.

`Dispute.EvidenceErased` (its customer was erased) rewrites the bodies already made of
that dispute with the evidence's personal fields erased, in the same transaction: in
log order, so no body of a version before the erasure is made after it (later versions
render erased already). Their ids derive from (object, version): no lookup by object.

Rows and the tracking position commit in one transaction with compare-and-set
(see `View.batch`): every state change is queued exactly once, even with two
runners or a runner killed mid-batch. It is not a rebuildable read model: a
replay would send every webhook again, so it is not in `projections.catalog`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import CanMutateProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from paysource.application.eventlog import Event, EventStore
from paysource.application.webhooks.catalog import (
    ObjectKind,
    WebhookCatalog,
    envelope,
    webhook_event_id,
)
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.dispute import Dispute
from paysource.domain.dispute_evidence import erase_evidence
from paysource.domain.webhook_endpoint import EndpointStatus, WebhookEndpoint, subscribes
from paysource.readmodels.view import View

OUTBOX_NAME = "webhook-outbox"
ENDPOINT_COLUMNS = (
    "id",
    "merchant_id",
    "url",
    "events",
    "description",
    "status",
    "disabled_reason",
    "disabled_at",
    "created_at",
    "version",
    "secret_generation",
    "secret_rotated_at",
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    merchant_id: UUID
    body: dict[str, Any]


class WebhookOutboxView(View):
    name: ClassVar[str] = OUTBOX_NAME
    tables = ("webhook_endpoints", "webhook_events", "webhook_deliveries")

    def begin_batch(self) -> None:
        self.endpoints: dict[UUID, dict[str, Any]] = {}
        self._dirty: set[UUID] = set()
        self._events: list[tuple[Any, ...]] = []
        self._deliveries: list[tuple[Any, ...]] = []
        self._reset_health: set[UUID] = set()
        self._cancel: set[UUID] = set()
        self._erased_bodies: set[UUID] = set()

    def any_enabled_endpoint(self) -> bool:
        row = self.cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = 'enabled') AS any"
        ).fetchone()
        return bool(row and row["any"])

    def load_endpoints(self, *, merchant_ids: set[UUID], endpoint_ids: set[UUID]) -> None:
        rows = self.cursor.execute(
            "SELECT * FROM webhook_endpoints WHERE merchant_id = ANY(%s) OR id = ANY(%s)",
            (list(merchant_ids), list(endpoint_ids)),
        ).fetchall()
        self.endpoints.update({row["id"]: dict(row) for row in rows})

    def change_endpoint(self, event: WebhookEndpoint.Event, **values: Any) -> None:
        row = self.endpoints[event.originator_id]  # loaded: a missing row is a bug
        row.update(values, version=event.originator_version)
        self._dirty.add(event.originator_id)

    def add_endpoint(self, row: dict[str, Any]) -> None:
        self.endpoints[row["id"]] = row
        self._dirty.add(row["id"])

    def reset_health(self, endpoint_id: UUID) -> None:
        self._reset_health.add(endpoint_id)

    def cancel_pending(self, endpoint_id: UUID) -> None:
        self._cancel.add(endpoint_id)

    def queue(self, event_row: tuple[Any, ...], deliveries: list[tuple[Any, ...]]) -> None:
        self._events.append(event_row)
        self._deliveries.extend(deliveries)

    def erase_evidence(self, event: Dispute.EvidenceErased) -> None:
        """Erase the evidence in the dispute's bodies of the versions before `event`."""
        self._erased_bodies.update(
            webhook_event_id(event.originator_id, version)
            for version in range(1, event.originator_version)
        )

    def flush(self) -> None:
        self._flush_endpoints()
        self.cursor.executemany(
            "INSERT INTO webhook_events (id, merchant_id, type, object_id, object_version,"
            " payload, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            self._events,
        )
        self._flush_erased_bodies()  # after the insert: it may have made some of them
        # Executed in list order, so `seq` follows the log.
        self.cursor.executemany(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, merchant_id,"
            " event_type, object_id, object_version) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (event_id, endpoint_id) DO NOTHING",
            self._deliveries,
        )
        self._flush_endpoint_effects()

    def _flush_endpoints(self) -> None:
        if not self._dirty:
            return
        assignments = ", ".join(f"{c} = excluded.{c}" for c in ENDPOINT_COLUMNS if c != "id")
        self.cursor.executemany(
            f"INSERT INTO webhook_endpoints ({', '.join(ENDPOINT_COLUMNS)})"  # noqa: S608
            f" VALUES ({', '.join(['%s'] * len(ENDPOINT_COLUMNS))})"
            f" ON CONFLICT (id) DO UPDATE SET {assignments}",
            [[self.endpoints[i][c] for c in ENDPOINT_COLUMNS] for i in sorted(self._dirty)],
        )

    def _flush_erased_bodies(self) -> None:
        if not self._erased_bodies:
            return
        rows = self.cursor.execute(
            "SELECT id, payload FROM webhook_events WHERE id = ANY(%s)",
            (sorted(self._erased_bodies),),
        ).fetchall()
        self.cursor.executemany(
            "UPDATE webhook_events SET payload = %s WHERE id = %s",
            [(erased_body(row["payload"]), row["id"]) for row in rows],
        )

    def _flush_endpoint_effects(self) -> None:
        if self._reset_health:
            self.execute(
                "UPDATE webhook_endpoints SET failing_since = NULL, consecutive_failures = 0"
                " WHERE id = ANY(%s)",
                (sorted(self._reset_health),),
            )
        if self._cancel:
            # A deleted endpoint is sent nothing more, including what was queued.
            self.execute(
                "UPDATE webhook_deliveries SET status = 'canceled', completed_at = now(),"
                " locked_until = NULL, resend_at = NULL"
                " WHERE endpoint_id = ANY(%s) AND status = 'pending'",
                (sorted(self._cancel),),
            )
            # Resends asked for of its finished deliveries are dropped too.
            self.execute(
                "UPDATE webhook_deliveries SET resend_at = NULL"
                " WHERE endpoint_id = ANY(%s) AND resend_at IS NOT NULL",
                (sorted(self._cancel),),
            )


class WebhookOutbox:
    """A `BatchHandler` (run it under a `Follower`): one transaction per batch."""

    def __init__(self, store: EventStore, view: WebhookOutboxView, catalog: WebhookCatalog):
        self.store = store
        self.view = view
        self.catalog = catalog
        self.name = view.name
        self.topics = (*catalog.topics(), get_topic(Dispute.EvidenceErased))
        self._committed: int | None = None

    def position(self) -> int:
        self._committed = self.view.position()
        return self._committed

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        expected = self.position() if self._committed is None else self._committed
        try:
            with self.view.batch(tracking, expected=expected):
                self._apply(events)
        except Exception:
            self._committed = None  # re-read the position before the next try
            raise
        self._committed = tracking.notification_id

    def _apply(self, events: Sequence[Event]) -> None:
        for erased in events:
            if isinstance(erased, Dispute.EvidenceErased):
                # Whoever listens now: bodies were kept for endpoints since disabled too.
                self.view.erase_evidence(erased)
        endpoint_events = [e for e in events if isinstance(e, WebhookEndpoint.Event)]
        if not endpoint_events and not self.view.any_enabled_endpoint():
            return  # nobody listens: skip loading objects (most batches of most cells)
        snapshots = self._snapshots(events)
        self.view.load_endpoints(
            merchant_ids={s.merchant_id for s in snapshots.values()},
            endpoint_ids={e.originator_id for e in endpoint_events},
        )
        for event in events:
            if isinstance(event, WebhookEndpoint.Event):
                apply_endpoint_event(self.view, event)
            elif isinstance(event, PaysourceAggregate.Event):
                snapshot = snapshots.get((event.originator_id, event.originator_version))
                if snapshot is not None:
                    self._fan_out(event, snapshot)

    def _snapshots(self, events: Sequence[Event]) -> dict[tuple[UUID, int], Snapshot]:
        """The object of each mapped event as that event left it: one read per object."""
        wanted: dict[UUID, dict[int, ObjectKind]] = defaultdict(dict)
        for event in events:
            found = self.catalog.lookup(event)
            if found is not None:
                wanted[event.originator_id][event.originator_version] = found[0]
        snapshots: dict[tuple[UUID, int], Snapshot] = {}
        for object_id, versions in wanted.items():
            aggregate: PaysourceAggregate | None = None
            for stored in self.store.history(object_id, limit=max(versions)):
                assert isinstance(stored, CanMutateProtocol)
                aggregate = stored.mutate(aggregate)
                kind = versions.get(stored.originator_version)
                if kind is not None and aggregate is not None:
                    body = kind.render(aggregate)
                    snapshots[(object_id, aggregate.version)] = Snapshot(
                        kind.merchant_of(aggregate), body
                    )
        return snapshots

    def _fan_out(self, event: PaysourceAggregate.Event, snapshot: Snapshot) -> None:
        found = self.catalog.lookup(event)
        assert found is not None
        event_type = found[1]
        endpoints = [
            row
            for row in self.view.endpoints.values()
            if row["merchant_id"] == snapshot.merchant_id
            and row["status"] == EndpointStatus.ENABLED
            and subscribes(row["events"], event_type)
        ]
        if not endpoints:
            return
        event_id = webhook_event_id(event.originator_id, event.originator_version)
        payload = envelope(
            event_id=event_id,
            event_type=event_type,
            merchant_id=snapshot.merchant_id,
            created=event.timestamp,
            object_version=event.originator_version,
            snapshot=snapshot.body,
        )
        self.view.queue(
            (
                event_id,
                snapshot.merchant_id,
                event_type,
                event.originator_id,
                event.originator_version,
                _dumps(payload),
                event.timestamp,
            ),
            [
                (
                    uuid5(event_id, str(row["id"])),
                    event_id,
                    row["id"],
                    snapshot.merchant_id,
                    event_type,
                    event.originator_id,
                    event.originator_version,
                )
                for row in endpoints
            ],
        )


def erased_body(payload: str) -> str:
    """A stored webhook body with its object's evidence erased (other bodies: as is)."""
    body = json.loads(payload)
    shown = body["data"]["object"]
    if isinstance(shown.get("evidence"), dict):
        shown["evidence"] = erase_evidence(shown["evidence"])
    return _dumps(body)


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def apply_endpoint_event(view: WebhookOutboxView, event: WebhookEndpoint.Event) -> None:
    if isinstance(event, WebhookEndpoint.Created):
        view.add_endpoint(
            {
                "id": event.originator_id,
                "merchant_id": event.merchant_id,
                "url": event.url,
                "events": list(event.events),
                "description": event.description,
                "status": str(EndpointStatus.ENABLED),
                "disabled_reason": None,
                "disabled_at": None,
                "created_at": event.timestamp,
                "version": event.originator_version,
                "secret_generation": 1,
                "secret_rotated_at": None,
            }
        )
    elif isinstance(event, WebhookEndpoint.Disabled):
        view.change_endpoint(
            event,
            status=str(EndpointStatus.DISABLED),
            disabled_reason=event.reason,
            disabled_at=event.timestamp,
        )
    elif isinstance(event, WebhookEndpoint.Enabled):
        view.change_endpoint(
            event, status=str(EndpointStatus.ENABLED), disabled_reason=None, disabled_at=None
        )
        view.reset_health(event.originator_id)
    elif isinstance(event, WebhookEndpoint.Deleted):
        view.change_endpoint(event, status=str(EndpointStatus.DELETED))
        view.cancel_pending(event.originator_id)
    elif isinstance(event, WebhookEndpoint.SecretRotated):
        view.change_endpoint(
            event, secret_generation=event.generation, secret_rotated_at=event.timestamp
        )
