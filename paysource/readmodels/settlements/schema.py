"""The tables of the `settlements` read model (migration 007; item holds from 014, the
payout in the settlement currency from 015, `disputes_minor` from 016, the hold of
unconfirmed captures from 018, `superseded_by` from 019)."""

from paysource.readmodels.sql import Table

PAYMENTS = Table("settlement_payments", ("id", "merchant_id", "currency"))
ITEMS = Table(
    "settleable_items",
    (
        "kind",
        "ref_id",
        "merchant_id",
        "currency",
        "payment_id",
        "amount_minor",
        "fee_minor",
        "occurred_at",
        "settlement_id",
        "hold",
    ),
)
SETTLEMENTS = Table(
    "settlements",
    (
        "id",
        "merchant_id",
        "currency",
        "cutoff",
        "status",
        "gross_minor",
        "refunds_minor",
        "fees_minor",
        "carried_in_minor",
        "net_minor",
        "items_count",
        "payout_reference",
        "failure_reason",
        "created_at",
        "updated_at",
        "version",
        # Migration 015: the payout in the settlement currency, and why one waits.
        "payout_currency",
        "payout_minor",
        "fx_pair",
        "fx_rate",
        "fx_rate_valid_from",
        "fx_difference_minor",
        "waiting_reason",
        "disputes_minor",
        "superseded_by",
    ),
)
TABLES = (PAYMENTS, ITEMS, SETTLEMENTS)
