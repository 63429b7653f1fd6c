"""Each read model's declared columns are the database's, after every migration.

A read model's columns are written once (`readmodels/<name>/schema.py`) and used by
its projection and its queries; this holds them equal to `information_schema`, so a
migration and its projection cannot drift apart (a column added on one side only
fails here).
"""

from __future__ import annotations

import psycopg
import pytest

from paysource.readmodels.catalog import PROJECTIONS, TABLES
from paysource.readmodels.sql import Table

DECLARED = [(name, table) for name, tables in TABLES.items() for table in tables]


def database_columns(url: str, table: str) -> list[tuple[str, bool]]:
    """(column, generated) of a live table or view, in the database's order."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, is_generated = 'ALWAYS' FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [(str(column), bool(generated)) for column, generated in rows]


@pytest.mark.parametrize(("name", "table"), DECLARED, ids=[t.name for _, t in DECLARED])
def test_a_read_models_declared_columns_are_the_migrated_tables_columns(
    database_url: str, name: str, table: Table
) -> None:
    declared = [(column, column in table.generated) for column in table.columns]
    assert database_columns(database_url, table.name) == declared, name


def test_every_table_a_projection_writes_is_declared() -> None:
    for name, (view, _) in PROJECTIONS.items():
        declared = {table.name for table in TABLES[name]}
        assert set(view.tables) <= declared, name
