"""The tables of the `payments` read model (migrations 002, 010, 014 and 018)."""

from paysource.readmodels.sql import Table

PAYMENTS = Table(
    "payments",
    (
        "id",
        "merchant_id",
        "customer_id",
        "status",
        "amount_minor",
        "currency",
        "amount_capturable_minor",
        "amount_captured_minor",
        "amount_refunded_minor",
        "amount_refund_pending_minor",
        "fee_minor",
        "capture_method",
        "card_brand",
        "card_bin",
        "card_last4",
        "risk_outcome",
        "risk_score",
        "risk_reasons",
        "decline_code",
        "cancellation_reason",
        "description",
        "metadata",
        "created_at",
        "updated_at",
        "authorized_at",
        "version",
        "relay_failures",
        "settlement_hold",
        "relay_resolution",
        "capture_confirmed_at",
    ),
)
REFUNDS = Table(
    "refunds",
    (
        "id",
        "payment_id",
        "merchant_id",
        "status",
        "amount_minor",
        "currency",
        "reason",
        "failure_code",
        "created_at",
        "updated_at",
        "version",
    ),
)
TABLES = (PAYMENTS, REFUNDS)
