"""The reads of the `finance` read model: daily volume per merchant, currency and day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.readmodels import sql
from paysource.readmodels.finance.schema import AMOUNTS, DAILY_VOLUME
from paysource.readmodels.sql import Row, Statement, Where


def daily_volume(
    *,
    merchant_id: UUID | None,
    since: date,
    until: date,
    currency: str | None = None,
    limit: int | None = None,
) -> Statement:
    """Rows for days in [since, until], by day then merchant and currency (None
    merchant: every merchant's; None limit: all rows)."""
    where = Where().add("v.day >= %s", since).add("v.day <= %s", until)
    where.equal("v.merchant_id", merchant_id).equal("v.currency", currency)
    params: list[Any] = list(where.params)
    text = (
        f"SELECT {DAILY_VOLUME.select('v')} FROM {DAILY_VOLUME.name} v"  # noqa: S608
        f" WHERE {where.text} ORDER BY v.day, v.merchant_id, v.currency"
    )
    if limit is not None:
        text += " LIMIT %s"
        params.append(limit)
    return Statement(text, tuple(params))


class FinanceQueries:
    """The statements above, run on a cell's synchronous pool."""

    def __init__(self, datastore: PostgresDatastore, lists: sql.Lists | None = None) -> None:
        self.datastore = datastore
        self.lists = lists or (lambda: datastore)

    def daily_volume(
        self,
        *,
        merchant_id: UUID | None,
        since: date,
        until: date,
        currency: str | None = None,
        limit: int = 10_000,
    ) -> list[Row]:
        statement = daily_volume(
            merchant_id=merchant_id, since=since, until=until, currency=currency, limit=limit
        )
        return sql.run(self.lists(), statement)  # a report: a hot standby may serve it


def per_day(rows: Iterable[Row]) -> list[Row]:
    """`daily_volume` rows summed over merchants: one per (day, currency), newest day
    first, then by currency (what a staff role sees across every merchant)."""
    sums: dict[tuple[date, str], Row] = {}
    for row in rows:
        key = (row["day"], row["currency"])
        total = sums.setdefault(
            key, {"day": key[0], "currency": key[1]} | dict.fromkeys(_SUMMED, 0)
        )
        for column in _SUMMED:
            total[column] += row[column]
    return [sums[key] for key in sorted(sums, key=lambda k: (_days_ago(k[0]), k[1]))]


_SUMMED = (*AMOUNTS, "net_minor")


def _days_ago(day: date) -> int:
    # Sorts newest first while currencies stay ascending.
    return -day.toordinal()
