"""Fresh tables for a rebuild, and swapping them in by rename.

A rebuild replays a read model into fresh tables in a schema of its own, made from the
live tables' own definitions as Postgres holds them (columns, defaults, checks, keys,
triggers, and every index under its own name), so whatever a later migration adds to a
live table comes along. Keys exist from the start (upserts and lookups need them); the
other indexes are built once at the end, which costs less than keeping them up to date
row by row.

The swap moves the live tables out and the fresh ones in, in one transaction, then
points the views over them (e.g. `merchant_balances`) at the new ones. Readers see the
old tables or the new ones, never neither: a query that waited for the swap's lock
looks the name up again once it gets it (Postgres does so after any lock wait on a
relation named in a query). The swap waits for a lock at most `LOCK_TIMEOUT_MS`, below
Postgres's deadlock check (1 s), so a reader is never the one a deadlock aborts: the
swap gives up instead, and the caller tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal

from paysource.readmodels.view import LIVE_SCHEMA

LOCK_TIMEOUT_MS = 200


@dataclass(frozen=True, slots=True)
class Definitions:
    """What a set of live tables is made of, as DDL that names tables unqualified."""

    keys: list[tuple[str, str, str]]  # (table, constraint name, definition)
    indexes: list[tuple[str, str]]  # (table, CREATE INDEX) of indexes no constraint owns
    triggers: list[tuple[str, str]]  # (table, CREATE TRIGGER)
    views: list[tuple[str, str]]  # (view name, SELECT) of views over the tables


def read_definitions(curs: Cursor[DictRow], tables: Sequence[str]) -> Definitions:
    """The live tables' keys, indexes, triggers and dependent views. With search_path
    set to the live schema alone, Postgres writes their table names unqualified, so
    the same text creates them anywhere search_path points."""
    curs.execute(SQL("SET LOCAL search_path TO {}").format(Identifier(LIVE_SCHEMA)))
    oids = [_oid(curs, table) for table in tables]
    keys = curs.execute(
        "SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS d"
        " FROM pg_constraint WHERE conrelid = ANY(%s) AND contype IN ('p', 'u', 'x')"
        " ORDER BY conrelid, conname",
        (oids,),
    ).fetchall()
    indexes = curs.execute(
        "SELECT i.indrelid::regclass::text AS t, pg_get_indexdef(i.indexrelid) AS d"
        " FROM pg_index i WHERE i.indrelid = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        " ORDER BY i.indexrelid",
        (oids,),
    ).fetchall()
    triggers = curs.execute(
        "SELECT tgrelid::regclass::text AS t, pg_get_triggerdef(oid) AS d FROM pg_trigger"
        " WHERE tgrelid = ANY(%s) AND NOT tgisinternal ORDER BY oid",
        (oids,),
    ).fetchall()
    views = curs.execute(
        "SELECT DISTINCT v.relname AS name, pg_get_viewdef(v.oid) AS d"
        " FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid"
        " JOIN pg_class v ON v.oid = r.ev_class"
        " WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = ANY(%s)"
        " AND v.relkind = 'v' AND v.relnamespace = %s::regnamespace AND v.oid <> ALL(%s)",
        (oids, LIVE_SCHEMA, oids),
    ).fetchall()
    return Definitions(
        keys=[(r["t"], r["conname"], r["d"]) for r in keys],
        indexes=[(r["t"], r["d"]) for r in indexes],
        triggers=[(r["t"], r["d"]) for r in triggers],
        views=[(r["name"], r["d"].rstrip().rstrip(";")) for r in views],
    )


def _oid(curs: Cursor[DictRow], table: str) -> int:
    qualified = f"{LIVE_SCHEMA}.{table}"
    row = curs.execute("SELECT to_regclass(%s)::oid AS oid", (qualified,)).fetchone()
    assert row, qualified
    assert row["oid"], f"no table {qualified}: migrations not applied?"
    return int(row["oid"])


def create_fresh(
    curs: Cursor[DictRow], tables: Sequence[str], schema: str, found: Definitions
) -> None:
    """Empty copies of the live tables in `schema` (which must exist), with their keys
    and triggers; the other indexes come with `build_indexes`."""
    for table in tables:
        curs.execute(
            SQL(
                "CREATE TABLE {}.{} (LIKE {}.{} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                " INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE)"
            ).format(
                Identifier(schema), Identifier(table), Identifier(LIVE_SCHEMA), Identifier(table)
            )
        )
    _in_schema(curs, schema)
    for table, name, definition in found.keys:
        curs.execute(
            SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                Identifier(table),
                Identifier(name),
                SQL(definition),  # trusted: Postgres wrote it
            )
        )
    for table, statement in found.triggers:
        curs.execute(_retarget(statement, table, schema))


def build_indexes(
    curs: Cursor[DictRow], tables: Sequence[str], schema: str, found: Definitions
) -> None:
    """The secondary indexes, under their live names, then fresh planner statistics."""
    _in_schema(curs, schema)
    for table, statement in found.indexes:
        curs.execute(_retarget(statement, table, schema))
    for table in tables:
        curs.execute(SQL("ANALYZE {}.{}").format(Identifier(schema), Identifier(table)))


def swap(
    curs: Cursor[DictRow], tables: Sequence[str], fresh: str, retired: str, found: Definitions
) -> None:
    """In the caller's transaction: live tables to `retired`, fresh ones to live, and
    the views over them re-pointed. Raises psycopg.errors.LockNotAvailable when a lock
    takes longer than LOCK_TIMEOUT_MS (nothing is changed: the caller rolls back)."""
    curs.execute(SQL("SET LOCAL lock_timeout = {}").format(Literal(f"{LOCK_TIMEOUT_MS}ms")))
    # Views first, then tables, in one statement: the order a reader of a view takes
    # them in (the other order deadlocks with it, for the length of the lock timeout).
    names = [name for name, _ in found.views] + list(tables)
    live = SQL(", ").join(
        SQL("{}.{}").format(Identifier(LIVE_SCHEMA), Identifier(t)) for t in names
    )
    curs.execute(SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(live))
    for table in tables:
        curs.execute(
            SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                Identifier(LIVE_SCHEMA), Identifier(table), Identifier(retired)
            )
        )
        curs.execute(
            SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                Identifier(fresh), Identifier(table), Identifier(LIVE_SCHEMA)
            )
        )
    _in_schema(curs, LIVE_SCHEMA)
    for name, definition in found.views:
        curs.execute(
            SQL("CREATE OR REPLACE VIEW {} AS {}").format(Identifier(name), SQL(definition))
        )


def _retarget(statement: str, table: str, schema: str) -> SQL:
    """Postgres writes an index's or trigger's table schema-qualified: `ON public.t`."""
    live = f" ON {LIVE_SCHEMA}.{table} "
    assert live in statement, statement
    assert schema.isidentifier(), schema  # ours: no quoting needed
    assert schema.islower(), schema
    fresh = f" ON {schema}.{table} "
    return SQL(statement.replace(live, fresh, 1))  # written by Postgres


def _in_schema(curs: Cursor[DictRow], schema: str) -> None:
    """Unqualified names resolve in `schema`, then `public` (functions, other tables)."""
    curs.execute(SQL("SET LOCAL search_path TO {}, public").format(Identifier(schema)))
