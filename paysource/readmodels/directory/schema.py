"""The tables of the `directory` read model (migration 003)."""

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
        "fee_fixed",
        "created_at",
        "updated_at",
        "version",
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
