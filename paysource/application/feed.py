"""The event feed's wire shape: one indexed event as auditors see it.

An event is named by its log position (the feed's cursor), its object (the public,
prefixed id and the aggregate version) and its type; who acted, on which request and
trace, and when, come from the event's own metadata. No event data here: the feed
lists what happened; an object's `/events` shows the details.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from paysource.application.errors import NotFound
from paysource.application.ids import Kind, decode, encode
from paysource.application.representations import timestamp

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


def feed_event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "event",
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
