"""The event relay: every indexed event of a cell, in log order, onto an event bus.

Subjects are partitioned by merchant (`paysource.<cell>.<mer_…>.<Type>`), so a consumer
takes one merchant's events, or a merchant range, in order. Each message's id is the
cell and the log position (`cell-0:1234`); the bus appends a message only if the
stream's last message is its predecessor, so after any failure (a bus node killed, the
worker killed mid-batch) the relay asks the stream where it stands and goes on from
there: nothing is skipped, nothing appended twice, nothing reordered — however long it
was down (the bus's duplicate window is not relied on).

The body is the event feed's envelope (`GET /v1/events`): position, type, object and
version, merchant, actor, request and trace, time. Not the event's data: customers'
personal data can be erased in the log (crypto-shredding) but not in a stream someone
else retains, so consumers read details from the API (`/v1/{objects}/{id}/events`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from paysource.application.eventlog import EventStore, Follower, Wakeup
from paysource.application.feed import feed_event
from paysource.application.ports import EventStream, RelayMessage
from paysource.readmodels.events.queries import RelayQueries
from paysource.readmodels.sql import Row

log = logging.getLogger(__name__)

RELAY_NAME = "event-relay"


def msg_id(cell: str, position: int) -> str:
    return f"{cell}:{position}"


def position_of(msg_id_text: str | None, cell: str) -> int:
    """The log position a message id names (0 for none); another cell's id is a
    misconfiguration (two cells on one stream) and stops the relay."""
    if msg_id_text is None:
        return 0
    owner, _, position = msg_id_text.rpartition(":")
    if owner != cell or not position.isdigit():
        raise ValueError(f"stream's last message {msg_id_text!r} is not from cell {cell}")
    return int(position)


def message(cell: str, row: Row) -> RelayMessage:
    body: dict[str, Any] = {"cell": cell, **feed_event(row)}
    subject = f"paysource.{cell}.{body['merchant']}.{row['type']}"
    return RelayMessage(subject, msg_id(cell, row["position"]), json.dumps(body).encode())


class EventRelay:
    """Moves the cell's indexed events onto its stream, a batch at a time."""

    name = RELAY_NAME
    topics: tuple[str, ...] = ()  # it reads the events index, not topics of the log

    def __init__(
        self, cell: str, rows: RelayQueries, stream: EventStream, *, batch_size: int
    ) -> None:
        self.cell = cell
        self.rows = rows
        self.stream = stream
        self.batch_size = batch_size
        self._relayed: int | None = None  # None: ask the stream
        self._noted: int | None = None  # the position noted last (None: not yet)

    def position(self) -> int:
        """How far the relay has handled the index: each event up to here is on the
        stream or left out (what `paysource jobs` measures lag from)."""
        return self.rows.position(self.name)

    def relay_next(self) -> bool:
        """Append the next batch; whether there was one. Raises if the bus refused."""
        relayed = self._relayed
        if relayed is None:
            relayed = position_of(self.stream.last_msg_id(), self.cell)
        upto = self.rows.indexed_to()
        rows = self.rows.after(relayed, limit=self.batch_size, upto=upto)
        batch = [message(self.cell, row) for row in rows]
        if not batch:
            self._relayed = relayed
            self._note_idle(max(relayed, upto))
            return False
        self._relayed = None  # until the stream has acknowledged the whole batch
        self.stream.append(batch, after=msg_id(self.cell, relayed) if relayed else None)
        self._relayed = position_of(batch[-1].msg_id, self.cell)
        self.rows.note_position(self.name, self._relayed)
        self._noted = self._relayed
        return True

    def _note_idle(self, position: int) -> None:
        """Note that everything indexed up to `position` is on the stream or left out
        (copies a merchant's move made): `paysource jobs` then counts no lag for them,
        and `cells move` (which waits for the relay) sees it past them, also after a
        relay was killed between an append and its note."""
        if self._noted is None or position > self._noted:
            self.rows.note_position(self.name, position)
            self._noted = position


class RelayFollower(Follower):
    """Runs the relay under the follower loop (wake-ups, polling, back-off on failure):
    it follows the events read model, not the raw log, so its step is its own."""

    def __init__(self, store: EventStore, relay: EventRelay, *, wakeup: Wakeup, **options: Any):
        # The loop uses only the handler's name and position(): `step` is overridden.
        super().__init__(store, relay, wakeup=wakeup, **options)  # type: ignore[arg-type]
        self.relay = relay

    def run(self, stop: threading.Event) -> None:
        try:
            super().run(stop)
        finally:
            self.relay.stream.close()  # in the thread that used it: the loop is its own

    def step(self, scanned_to: int) -> tuple[int, bool]:
        started = time.monotonic()
        worked = self.relay.relay_next()
        if worked:
            log.debug("relayed a batch in %.3fs", time.monotonic() - started)
        return scanned_to, worked
