"""The table of the `events` read model (migrations 012 and 026)."""

from paysource.readmodels.sql import Table

EVENT_INDEX = Table(
    "event_index",
    (
        "position",
        "merchant_id",
        "object_kind",
        "object_id",
        "version",
        "type",
        "occurred_at",
        "actor",
        "actor_id",
        "request_id",
        "traceparent",
        "event_id",
    ),
)
TABLES = (EVENT_INDEX,)
