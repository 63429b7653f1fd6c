"""Rows a batch changes: loaded in one query, changed in memory, written in one go.

Folding a batch in memory and writing each touched row once keeps a projection's
cost per batch at a few statements, whatever the number of events (rebuilds replay
hundreds of thousands of them). Rows a batch creates go in by COPY (a rebuild creates
nearly all of its rows); rows it changes are upserted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from psycopg import Cursor, ProgrammingError
from psycopg.pq import Format
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from paysource.readmodels.sql import Table


class Rows:
    def __init__(self, table: Table, *, json_columns: tuple[str, ...] = ()) -> None:
        self.table = table.name
        self.columns = columns = table.written
        self.json_columns = json_columns
        self._rows: dict[UUID, dict[str, Any]] = {}
        self._dirty: set[UUID] = set()
        self._new: set[UUID] = set()  # made by this batch: not in the table yet
        assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "id")
        self._upsert = (
            f"INSERT INTO {table.name} ({', '.join(columns)})"  # noqa: S608  # fixed names
            f" VALUES ({', '.join(['%s'] * len(columns))})"
            f" ON CONFLICT (id) DO UPDATE SET {assignments}"
        )

    def clear(self) -> None:
        self._rows.clear()
        self._dirty.clear()
        self._new.clear()

    def load(self, curs: Cursor[DictRow], ids: Iterable[UUID]) -> None:
        wanted = [i for i in set(ids) if i not in self._rows]
        if wanted:
            # The ids in binary (%b): 0.5 µs of CPU per id, 2.7-2.9 as text (bench/README.md).
            query = f"SELECT * FROM {self.table} WHERE id = ANY(%b)"  # noqa: S608
            for row in curs.execute(query, (wanted,)).fetchall():
                self._rows[row["id"]] = dict(row)

    def add(self, row: dict[str, Any]) -> None:
        """A new row (its aggregate's first event: applied once, so not stored yet)."""
        self._rows[row["id"]] = row
        self._dirty.add(row["id"])
        self._new.add(row["id"])

    def change(self, row_id: UUID, **values: Any) -> dict[str, Any]:
        row = self._rows[row_id]  # prefetched: a missing row is a bug, not a skip
        row.update(values)
        self._dirty.add(row_id)
        return row

    def get(self, row_id: UUID) -> dict[str, Any]:
        return self._rows[row_id]

    def flush(self, curs: Cursor[DictRow]) -> None:
        if not self._dirty:
            return
        dirty = sorted(self._dirty)
        new = [self._values(self._rows[i]) for i in dirty if i in self._new]
        if new:
            copy_rows(curs, self.table, self.columns, new)
        changed = [self._values(self._rows[i]) for i in dirty if i not in self._new]
        if changed:
            # Row by row: `upsert_rows` cannot send array columns, which some of these
            # tables have (payments' risk_reasons), and a live batch changes few rows.
            curs.executemany(self._upsert, changed)
        self._dirty.clear()
        self._new.clear()

    def _values(self, row: dict[str, Any]) -> list[Any]:
        return [Jsonb(row[c]) if c in self.json_columns else row.get(c) for c in self.columns]


# (table, columns) -> the oids to send them as, or None when psycopg cannot send one of
# them in binary (then the copy is in text). A read model's scratch and live tables have
# the same types.
_COLUMN_TYPES: dict[tuple[str, tuple[str, ...]], list[int] | None] = {}
# char(n) (bpchar, 1042) has no binary dumper in psycopg, but Postgres receives it from
# the same bytes as text (25), padding and length checks included.
_SENT_AS = {1042: 25}


def copy_rows(
    curs: Cursor[DictRow], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """`rows` into `table` (as the search path finds it) by COPY: in binary when psycopg
    can send every column so, which takes 0.6-0.8 µs of client CPU per row of nine
    columns where text takes 3 (bench/README.md), and spares Postgres the parsing."""
    types = _column_types(curs, table, tuple(columns))
    names = ", ".join(columns)
    binary = types is not None
    with curs.copy(
        f"COPY {table} ({names}) FROM STDIN{' (FORMAT BINARY)' if binary else ''}"
    ) as copy:
        if types is not None:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def upsert_rows(
    curs: Cursor[DictRow],
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: tuple[str, ...] = ("id",),
) -> None:
    """`rows` into `table` in one statement, inserted or, where their `key` exists,
    updated; each column goes as one array in binary. The rows' keys must be distinct
    (ON CONFLICT changes a row once per statement), no column may be an array (`unnest`
    would flatten it), and a column's values must be of one Python type (psycopg dumps
    a list as one type). `executemany` sends a statement per row, which costs
    more on both sides for many rows (bench/README.md); a long VALUES list cost the
    client more still."""
    statement = _upsert_statement(curs, table, tuple(columns), key)
    curs.execute(statement, [list(column) for column in zip(*rows, strict=True)], prepare=True)


# (table, columns, key) -> the upsert: the arrays' types depend on the columns only, and
# a read model's scratch and live tables have the same ones.
_UPSERTS: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}


def _upsert_statement(
    curs: Cursor[DictRow], table: str, columns: tuple[str, ...], key: tuple[str, ...]
) -> str:
    cached = (table, columns, key)
    if cached not in _UPSERTS:
        found = {name: type_name for name, (_, type_name) in _attributes(curs, table).items()}
        if any(found[c].endswith("]") for c in columns):
            raise TypeError(f"{table}: upsert_rows cannot send array columns")
        arrays = ", ".join(f"%b::{found[c]}[]" for c in columns)
        assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
        _UPSERTS[cached] = (
            f"INSERT INTO {table} ({', '.join(columns)})"  # noqa: S608  # names from our schema
            f" SELECT * FROM unnest({arrays})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {assignments}"
        )
    return _UPSERTS[cached]


def _column_types(curs: Cursor[DictRow], table: str, columns: tuple[str, ...]) -> list[int] | None:
    key = (table, columns)
    if key not in _COLUMN_TYPES:
        found = {name: oid for name, (oid, _) in _attributes(curs, table).items()}
        oids = [_SENT_AS.get(oid, oid) for oid in map(found.get, columns) if oid is not None]
        known = [oid for oid in oids if _dumps_binary(curs, oid)]
        _COLUMN_TYPES[key] = known if len(known) == len(columns) else None
    return _COLUMN_TYPES[key]


def _attributes(curs: Cursor[DictRow], table: str) -> dict[str, tuple[int, str]]:
    """`table`'s columns (as the search path finds it): each one's type oid and name."""
    return {
        row["attname"]: (row["oid"], row["type"])
        for row in curs.execute(
            "SELECT attname, atttypid::int AS oid, format_type(atttypid, atttypmod) AS type"
            " FROM pg_attribute"
            " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (table,),
        )
    }


def _dumps_binary(curs: Cursor[DictRow], oid: int) -> bool:
    try:
        curs.adapters.get_dumper_by_oid(oid, Format.BINARY)
    except ProgrammingError:  # psycopg has no binary dumper for it
        return False
    return True
