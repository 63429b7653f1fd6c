"""The table of the `disputes` read model (migration 016)."""

from paysource.readmodels.sql import Table

DISPUTES = Table(
    "disputes",
    (
        "id",
        "merchant_id",
        "payment_id",
        "status",
        "amount_minor",
        "fee_minor",
        "currency",
        "reason",
        "source",
        "due_by",
        "evidence_submitted_at",
        "outcome_reason",
        "created_at",
        "updated_at",
        "version",
    ),
)
TABLES = (DISPUTES,)
