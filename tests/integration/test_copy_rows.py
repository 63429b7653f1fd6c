"""Read models' new rows go in by COPY, in binary where psycopg can send every column so:
the rows stored are exactly those a text COPY (or an INSERT) stores."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from paysource.readmodels import rows as rows_module
from paysource.readmodels.rows import copy_rows

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
