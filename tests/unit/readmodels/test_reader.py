"""The reader's pure parts: merging cells' pages, the ownership rule, daily sums."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from paysource.application.errors import NotFound
from paysource.readmodels.finance.queries import per_day
from paysource.readmodels.finance.schema import AMOUNTS
from paysource.readmodels.payments.queries import PAYMENT_LIST
from paysource.readmodels.reader import get_owned, merge
from paysource.readmodels.sql import Row

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def row(minutes: int, merchant: UUID | None = None) -> Row:
    return {
        "id": uuid4(),
        "merchant_id": merchant or uuid4(),
        "created_at": T0 + timedelta(minutes=minutes),
    }


def test_pages_of_several_cells_merge_newest_first_keeping_one_extra_row() -> None:
    first, second = [row(9), row(5), row(1)], [row(8), row(7), row(2)]
    merged = merge(PAYMENT_LIST, [first, second], limit=3)
    assert [r["created_at"].minute for r in merged] == [9, 8, 7, 5]


def test_another_merchants_object_is_not_found_exactly_like_an_unknown_id() -> None:
    mine, theirs = uuid4(), uuid4()
    theirs_row = row(1, merchant=theirs)
    with pytest.raises(NotFound) as foreign:
        get_owned("payment", theirs_row["id"], mine, [lambda _: theirs_row])
    with pytest.raises(NotFound) as unknown:
        get_owned("payment", uuid4(), mine, [lambda _: None])
    assert str(foreign.value) == str(unknown.value) == "no such payment"


def test_staff_and_the_owner_get_the_object_from_the_cell_that_has_it() -> None:
    owner = uuid4()
    found = row(1, merchant=owner)
    lookups = [lambda _: None, lambda _: found]
    assert get_owned("payment", found["id"], owner, lookups) is found
    assert get_owned("payment", found["id"], None, lookups) is found


def test_daily_volume_sums_merchants_per_day_and_currency_newest_day_first() -> None:
    amounts = dict.fromkeys(AMOUNTS, 1)
    rows = [
        {"day": date(2026, 1, 1), "currency": "USD", **amounts, "net_minor": 1},
        {"day": date(2026, 1, 2), "currency": "USD", **amounts, "net_minor": 2},
        {"day": date(2026, 1, 2), "currency": "EUR", **amounts, "net_minor": 3},
        {"day": date(2026, 1, 2), "currency": "USD", **amounts, "net_minor": 4},
    ]
    summed = per_day(rows)
    assert [(r["day"].day, r["currency"], r["net_minor"], r["captures_count"]) for r in summed] == [
        (2, "EUR", 3, 1),
        (2, "USD", 6, 2),
        (1, "USD", 1, 1),
    ]
