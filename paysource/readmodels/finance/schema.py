"""The tables of the `finance` read model (migrations 006, 025)."""

from paysource.readmodels.sql import Table

PAYMENTS = Table("finance_payments", ("id", "merchant_id", "currency"))
# The amounts a batch adds to a day's row, in the order `FinanceView` folds them.
AMOUNTS = (
    "captures_count",
    "captures_minor",
    "refunds_count",
    "refunds_minor",
    "fees_minor",
    # Captures an operator reversed, and the fees they gave back (migration 025).
    "reversals_count",
    "reversals_minor",
    "reversed_fees_minor",
)
DAILY_VOLUME = Table(
    "daily_volume",
    ("merchant_id", "currency", "day", *AMOUNTS, "net_minor"),
    generated=("net_minor",),
)
TABLES = (PAYMENTS, DAILY_VOLUME)
