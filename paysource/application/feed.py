"""The event feed's wire shape: one indexed event as auditors see it, and as merchants.

An event is named by its id (`evt_…`, the id its webhook carries), its log position,
its object (the public, prefixed id and the aggregate version) and its type; who
acted, on which request and trace, and when, come from the event's own metadata. No
event data here: the feed lists what happened; an object's `/events` shows the details.

Merchants see no position, and page by event id: positions are the cell's notification
ids, so the gaps between a merchant's own would count every other merchant's events
(docs/decisions.md). Staff, who see every merchant's events anyway, page by either.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from paysource.application.errors import NotFound
from paysource.application.ids import Kind, decode, encode
from paysource.application.representations import timestamp
from paysource.application.webhooks.catalog import webhook_event_id
from paysource.domain.errors import InvalidValue

# Positions are Postgres bigints: a larger cursor is refused, never sent to SQL.
MAX_POSITION = 2**63 - 1
# A cursor in the integer form: a log position (staff only).
_INTEGER = re.compile(r"-?[0-9]+")

# The kind of object (as the `events` read model names it) → its id prefix.
OBJECT_PREFIXES: dict[str, Kind] = {
    "payment": Kind.PAYMENT,
    "refund": Kind.REFUND,
    "settlement": Kind.SETTLEMENT,
    "customer": Kind.CUSTOMER,
    "merchant": Kind.MERCHANT,
    "webhook_endpoint": Kind.WEBHOOK_ENDPOINT,
}
_BY_PREFIX = {kind.value: kind for kind in OBJECT_PREFIXES.values()}


def object_id(external: str) -> UUID:
    """The UUID of any public object's id (`pay_…`, `we_…`), else NotFound."""
    kind = _BY_PREFIX.get(external.partition("_")[0])
    if kind is None:
        raise NotFound("no such object")
    return decode(kind, external)


def event_cursor(cursor: str, *, staff: bool) -> int | UUID:
    """A page's `starting_after`: a position (staff only), else an event's id.

    A merchant's integer is refused whatever it is: were it read, the merchant could
    binary-search its own events' positions. A malformed id is an unknown id (404).
    """
    if not _INTEGER.fullmatch(cursor):
        return decode(Kind.EVENT, cursor)
    if not staff:
        raise InvalidValue("merchant keys page by event id: starting_after=evt_…")
    position = int(cursor)
    if not 0 <= position <= MAX_POSITION:
        raise InvalidValue(f"a position is between 0 and {MAX_POSITION}")
    return position


def merchant_view(event: dict[str, Any]) -> dict[str, Any]:
    """The feed's event as its merchant sees it: without its log position."""
    return {key: value for key, value in event.items() if key != "position"}


def _event_id(row: dict[str, Any]) -> UUID:
    # Stored since migration 026 (`migrate` fills older rows); computed for a row an
    # older process wrote during an upgrade, which still has its id.
    stored: UUID | None = row.get("event_id")
    return stored or webhook_event_id(row["object_id"], row["version"])


def feed_event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "event",
        "id": encode(Kind.EVENT, _event_id(row)),
        "position": row["position"],
        "type": row["type"],
        "object_kind": row["object_kind"],
        "object_id": encode(OBJECT_PREFIXES[row["object_kind"]], row["object_id"]),
        "version": row["version"],
        "merchant": encode(Kind.MERCHANT, row["merchant_id"]),
        "actor": {"kind": row["actor"], "id": row["actor_id"]},
        "request_id": row["request_id"],
        "traceparent": row["traceparent"],
        "time": timestamp(row["occurred_at"]),
    }
