"""The tables of the `transactions` read model (migration 005, and 007's payouts)."""

from paysource.readmodels.sql import Table

PAYMENTS = Table(
    "transaction_payments", ("id", "merchant_id", "customer_id", "currency", "amount_minor")
)
# The order of these is the order of the rows `TransactionsView` buffers.
TRANSACTIONS = Table(
    "transactions",
    (
        "id",
        "merchant_id",
        "customer_id",
        "payment_id",
        "refund_id",
        "kind",
        "status",
        "amount_minor",
        "fee_minor",
        "currency",
        "occurred_at",
        "settlement_id",
    ),
)
TABLES = (PAYMENTS, TRANSACTIONS)
