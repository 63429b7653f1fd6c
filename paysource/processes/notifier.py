"""Publishes every change of a payment to Redis pub/sub, for live GraphQL updates.

A log follower run by the worker: for each payment event it publishes a small
message on the payment's channel, then records its position. Any API process
subscribed to that channel (one per `paymentUpdated` subscription) hears it, so
updates reach clients whichever process serves them.

Delivery is at-least-once (a batch interrupted after publishing is published
again) and messages carry the payment's version, so subscribers drop repeats. A
publish that fails stops the batch and the follower retries it: never skipped.

Only channels with a subscriber are published to (asked once a batch, `listened`):
under load almost none has one, and encoding and publishing five messages a payment
for nobody was half of this job's CPU (bench/README.md). A channel subscribed after
that question has lost nothing: its events were committed before it was asked, and a
subscription subscribes first, then reads the payment from the log.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from paysource.application.eventlog import Event, EventStore
from paysource.application.ports import Listened, Publish
from paysource.domain.payment import Payment

CHANNEL_PREFIX = "paysource:payment:"
# New payments, for `paymentCreated`: one channel per merchant (its subscribers hear
# only their own) and one for staff, who see every merchant's.
NEW_PAYMENTS_PREFIX = "paysource:new-payments:"
ALL_NEW_PAYMENTS = "paysource:new-payments:all"

# The events that change what a payment shows: its status, or its refunded amounts.
_EVENTS: tuple[type[Payment.Event], ...] = (
    Payment.Created,
    Payment.Authorized,
    Payment.Declined,
    Payment.Captured,
    Payment.Canceled,
    Payment.RefundReserved,
    Payment.RefundSettled,
    Payment.RefundReleased,
)


def channel(payment_id: UUID) -> str:
    return f"{CHANNEL_PREFIX}{payment_id.hex}"


def new_payments_channel(merchant_id: UUID | None) -> str:
    """Where a merchant's new payments are announced; `None`: every merchant's."""
    return ALL_NEW_PAYMENTS if merchant_id is None else f"{NEW_PAYMENTS_PREFIX}{merchant_id.hex}"


@dataclass(frozen=True, slots=True)
class PaymentChanged:
    payment_id: UUID
    version: int
    event: str
    at: datetime

    def encode(self) -> bytes:
        return json.dumps(
            {
                "payment": self.payment_id.hex,
                "version": self.version,
                "event": self.event,
                "at": self.at.isoformat(),
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> PaymentChanged:
        data = json.loads(raw)
        return cls(
            UUID(hex=data["payment"]),
            int(data["version"]),
            str(data["event"]),
            datetime.fromisoformat(data["at"]),
        )

    @classmethod
    def of(cls, event: Event) -> PaymentChanged:
        assert isinstance(event, Payment.Event), "the notifier follows payment topics only"
        return cls(
            event.originator_id,
            event.originator_version,
            type(event).__qualname__,
            event.timestamp,
        )


class PaymentNotifier:
    """A BatchHandler (see application.follower) for one cell's log."""

    name = "payment-notifier"
    topics: tuple[str, ...] = tuple(sorted(get_topic(cls) for cls in _EVENTS))

    def __init__(
        self, store: EventStore, publish: Publish, *, listened: Listened | None = None
    ) -> None:
        self._store = store
        self._publish = publish
        self._listened = listened  # None: publish on every channel

    def position(self) -> int:
        return self._store.position(self.name)

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        targets = [(event, _channels(event)) for event in events]
        wanted = self._wanted(targets)
        messages: list[tuple[str, bytes]] = []
        for event, names in targets:
            heard = [name for name in names if wanted is None or name in wanted]
            if heard:
                encoded = PaymentChanged.of(event).encode()
                messages += [(name, encoded) for name in heard]
        if messages:
            self._publish(messages)
        self._store.save(tracking=tracking)

    def _wanted(self, targets: list[tuple[Event, list[str]]]) -> Collection[str] | None:
        if self._listened is None or not targets:
            return None
        names = list(dict.fromkeys(name for _, names in targets for name in names))
        return self._listened(names)


def _channels(event: Event) -> list[str]:
    """Where a change is announced: the payment's channel; a new payment's also on its
    merchant's and on staff's."""
    names = [channel(event.originator_id)]
    if isinstance(event, Payment.Created):
        names += [new_payments_channel(event.merchant_id), new_payments_channel(None)]
    return names
