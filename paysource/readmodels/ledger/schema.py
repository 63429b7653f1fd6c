"""The tables of the `ledger` read model (migrations 004 and 007)."""

from paysource.readmodels.sql import Table

# Per payment, what the ledger needs from its creation.
PAYMENTS = Table("ledger_payments", ("id", "merchant_id", "currency", "amount_minor"))
ACCOUNTS = Table(
    "ledger_accounts",
    (
        "account",
        "currency",
        "kind",
        "merchant_id",
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
    ),
)
# The order of these two is the order of the rows `LedgerView.record` buffers.
ENTRIES = Table(
    "journal_entries",
    ("id", "kind", "merchant_id", "payment_id", "refund_id", "occurred_at", "event_ref"),
)
POSTINGS = Table(
    "postings",
    ("entry_id", "line", "account", "currency", "side", "phase", "amount_minor", "occurred_at"),
)
# A view over ledger_accounts: what paysource owes each merchant.
BALANCES = Table(
    "merchant_balances",
    ("merchant_id", "currency", "pending_minor", "available_minor", "paid_out_minor"),
)
TABLES = (PAYMENTS, ACCOUNTS, ENTRIES, POSTINGS, BALANCES)
