"""The tables of the `reconciliation` read model (migration 017)."""

from paysource.readmodels.sql import Table

IMPORTS = Table(
    "reconciliation_imports",
    ("id", "source", "digest", "day", "lines", "matched", "breaks", "imported_at"),
)
BREAKS = Table(
    "reconciliation_breaks",
    (
        "import_id",
        "number",
        "source",
        "kind",
        "item_kind",
        "item_key",
        "merchant_id",
        "line",
        "reference",
        "currency",
        "expected_minor",
        "actual_minor",
        "day",
        "detail",
        "status",
        "detected_at",
        "resolved_at",
        "resolved_by",
    ),
)
TABLES = (IMPORTS, BREAKS)
