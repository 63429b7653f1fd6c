"""The tables of the `directory` read model (migrations 003 and 015)."""

from paysource.readmodels.sql import Table

MERCHANTS = Table(
    "merchants",
    (
        "id",
        "name",
        "email",
        "settlement_currency",
        "fee_basis_points",
        "fee_fixed_minor",
        "created_at",
        "updated_at",
        "version",
        "fee_fixed",  # migration 015
    ),
)
CUSTOMERS = Table(
    "customers",
    (
        "id",
        "merchant_id",
        "name",
        "email",
        "metadata",
        "created_at",
        "updated_at",
        "version",
    ),
)
TABLES = (MERCHANTS, CUSTOMERS)
