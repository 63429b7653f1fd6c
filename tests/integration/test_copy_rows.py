"""Read models' new rows go in by COPY, in binary where psycopg can send every column so:
the rows stored are exactly those a text COPY (or an INSERT) stores. Rows upserted in one
statement of column arrays are exactly those an upsert per row leaves."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from paysource.readmodels import rows as rows_module
from paysource.readmodels.rows import copy_rows, upsert_rows

COLUMNS = ("id", "amount", "currency", "fee", "meta", "tags", "small", "at", "day", "flag")
TABLE = """(
    id uuid, amount bigint, currency char(3), fee numeric, meta jsonb, tags text[],
    small smallint, at timestamptz, day date, flag boolean
)"""

# Text Postgres can store at all (no NUL, no lone surrogate), in text, text[] and jsonb.
STORABLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=6,
)

VALUES = st.tuples(
    st.uuids(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(["USD", "JPY", "EU", "KWD"]),
    st.one_of(
        st.none(),
        st.integers(-(10**12), 10**12),
        st.decimals(
            places=4, allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9
        ),
    ),
    st.one_of(st.none(), st.dictionaries(STORABLE, st.integers(), max_size=3)),
    st.lists(STORABLE, max_size=3),
    st.integers(min_value=-(2**15), max_value=2**15 - 1),
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
    st.booleans(),
)


def stored(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(VALUES, max_size=20, unique_by=lambda row: row[0]))
def test_binary_copy_stores_what_a_text_copy_stores(
    database_url: str, made: list[tuple[Any, ...]]
) -> None:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        conn.execute(f"CREATE TEMP TABLE by_binary {TABLE}")
        conn.execute(f"CREATE TEMP TABLE by_text {TABLE}")
        rows = [(*row[:4], psycopg.types.json.Jsonb(row[4]), *row[5:]) for row in made]
        with conn.cursor() as curs:
            copy_rows(curs, "by_binary", COLUMNS, rows)
            with curs.copy(f"COPY by_text ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        assert rows_module._COLUMN_TYPES[("by_binary", COLUMNS)] is not None, "sent in binary"
        conn.row_factory = psycopg.rows.tuple_row  # type: ignore[assignment]
        assert stored(conn, "by_binary") == stored(conn, "by_text")


def test_a_column_psycopg_cannot_send_in_binary_makes_the_copy_text(database_url: str) -> None:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('calm', 'busy')")
        conn.execute("CREATE TABLE moods (id uuid, mood mood)")
        row_id = UUID(int=7)
        with conn.cursor() as curs:
            copy_rows(curs, "moods", ("id", "mood"), [(row_id, "busy")])

        assert rows_module._COLUMN_TYPES[("moods", ("id", "mood"))] is None
        assert conn.execute("SELECT id, mood::text AS mood FROM moods").fetchall() == [
            {"id": row_id, "mood": "busy"}
        ]


# upsert_rows: every column but the array (unnest would flatten it).
UPSERTED = tuple(c for c in COLUMNS if c != "tags")
KEYED_TABLE = TABLE.replace("id uuid,", "id uuid PRIMARY KEY,").replace(" tags text[],", "")


def _without_tags(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # A column's array holds values of one Python type (psycopg's rule): fees as Decimal.
    fee = None if row[3] is None else Decimal(row[3])
    return (*row[:3], fee, psycopg.types.json.Jsonb(row[4]), *row[6:])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(VALUES, max_size=10, unique_by=lambda row: row[0]),
    st.lists(VALUES, max_size=10, unique_by=lambda row: row[0]),
    st.data(),
)
def test_one_upsert_of_arrays_stores_what_an_upsert_per_row_stores(
    database_url: str,
    existing: list[tuple[Any, ...]],
    made: list[tuple[Any, ...]],
    data: st.DataObject,
) -> None:
    # The first `reused` of them change existing rows (their ids taken from those).
    reused = data.draw(st.integers(min_value=0, max_value=min(len(existing), len(made))))
    fresh = {row[0] for row in existing}
    changes = [
        (old[0], *new[1:]) for old, new in zip(existing[:reused], made[:reused], strict=True)
    ]
    changes += [row for row in made[reused:] if row[0] not in fresh]
    assignments = ", ".join(f"{c} = excluded.{c}" for c in UPSERTED if c != "id")
    one_by_one = (
        f"INSERT INTO by_rows ({', '.join(UPSERTED)}) VALUES ({', '.join(['%s'] * len(UPSERTED))})"
        f" ON CONFLICT (id) DO UPDATE SET {assignments}"
    )
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        for table in ("by_arrays", "by_rows"):
            conn.execute(f"CREATE TEMP TABLE {table} {KEYED_TABLE}")
            copy_rows(conn.cursor(), table, UPSERTED, [_without_tags(r) for r in existing])
        with conn.cursor() as curs:
            if changes:
                upsert_rows(curs, "by_arrays", UPSERTED, [_without_tags(r) for r in changes])
                curs.executemany(one_by_one, [_without_tags(r) for r in changes])
        conn.row_factory = psycopg.rows.tuple_row  # type: ignore[assignment]
        assert stored(conn, "by_arrays") == stored(conn, "by_rows")
        assert len(stored(conn, "by_arrays")) == len(fresh | {row[0] for row in changes})


def test_an_upsert_of_arrays_takes_the_key_it_is_given(database_url: str) -> None:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        conn.execute(
            "CREATE TEMP TABLE items (kind text, ref_id uuid, amount bigint, settled uuid,"
            " PRIMARY KEY (kind, ref_id))"
        )
        one, two = UUID(int=1), UUID(int=2)
        columns = ("kind", "ref_id", "amount", "settled")
        key = ("kind", "ref_id")
        with conn.cursor() as curs:
            upsert_rows(curs, "items", columns, [("capture", one, 5, None)], key=key)
            upsert_rows(
                curs,
                "items",
                columns,
                [("capture", one, 7, two), ("refund", one, -3, None)],
                key=key,
            )
        assert conn.execute("SELECT * FROM items ORDER BY kind").fetchall() == [
            {"kind": "capture", "ref_id": one, "amount": 7, "settled": two},
            {"kind": "refund", "ref_id": one, "amount": -3, "settled": None},
        ]


def test_an_upsert_of_arrays_refuses_an_array_column(database_url: str) -> None:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        conn.execute("CREATE TEMP TABLE tagged (id uuid PRIMARY KEY, tags text[])")
        with conn.cursor() as curs, pytest.raises(TypeError, match="array columns"):
            upsert_rows(curs, "tagged", ("id", "tags"), [(UUID(int=1), ["a", "b"])])
