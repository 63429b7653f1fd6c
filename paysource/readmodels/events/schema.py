"""The table of the `events` read model (migration 012)."""

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
    ),
)
TABLES = (EVENT_INDEX,)
