"""The operator's exchange rates in Postgres (table `fx_rates`, migration 015): exact
`numeric`, read back as `Decimal`. Kept in the directory cell's database, beside the
merchants, so every cell converts at the same rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from paysource.domain.rates import Rate

_COLUMNS = "base, quote, rate, valid_from, source"


def _rate(row: dict[str, Any]) -> Rate:
    return Rate(row["base"], row["quote"], row["rate"], row["valid_from"], row["source"])


class PostgresRates:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore

    def loaded(self, rates: Sequence[Rate]) -> dict[tuple[str, str, datetime], Rate]:
        with self._datastore.cursor() as curs:
            rows = curs.execute(
                f"SELECT {_COLUMNS} FROM fx_rates WHERE (base, quote, valid_from) IN"  # noqa: S608
                " (SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[]))",
                ([r.base for r in rates], [r.quote for r in rates], [r.valid_from for r in rates]),
            ).fetchall()
        found = [_rate(row) for row in rows]
        return {(r.base, r.quote, r.valid_from): r for r in found}

    def insert(self, rates: Sequence[Rate]) -> int:
        with self._datastore.transaction(commit=True) as curs:
            inserted = 0
            for r in rates:
                curs.execute(
                    f"INSERT INTO fx_rates ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s)"  # noqa: S608
                    " ON CONFLICT DO NOTHING",
                    (r.base, r.quote, r.rate, r.valid_from, r.source),
                )
                inserted += curs.rowcount
        return inserted

    def all(self) -> list[Rate]:
        with self._datastore.cursor() as curs:
            rows = curs.execute(
                f"SELECT {_COLUMNS} FROM fx_rates ORDER BY base, quote, valid_from"  # noqa: S608
            ).fetchall()
        return [_rate(row) for row in rows]

    def at(self, base: str, quote: str, moment: datetime) -> Rate | None:
        with self._datastore.cursor() as curs:
            row = curs.execute(
                f"SELECT {_COLUMNS} FROM fx_rates"  # noqa: S608
                " WHERE base = %s AND quote = %s AND valid_from <= %s"
                " ORDER BY valid_from DESC LIMIT 1",
                (base, quote, moment),
            ).fetchone()
        return None if row is None else _rate(row)
