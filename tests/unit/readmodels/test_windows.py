"""Pages read back from `ending_before`, and the filters every list takes, as SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from paysource.readmodels.directory.queries import customer_page
from paysource.readmodels.payments.queries import PAYMENT_LIST, REFUND_LIST, refund_page
from paysource.readmodels.reader import Reader
from paysource.readmodels.sql import Filters, Keyset, Page, Row, Scope, Window

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def row(minutes: int) -> Row:
    return {"id": uuid4(), "merchant_id": uuid4(), "created_at": T0 + timedelta(minutes=minutes)}


def minutes(page: Page) -> list[int]:
    return [r["created_at"].minute for r in page.rows]


def test_a_page_read_oldest_first_is_shown_newest_first() -> None:
    read = [row(1), row(2), row(3)]  # just newer than the cursor, oldest first, limit + 1
    page = Page.of(read, 2, oldest_first=True)
    assert (minutes(page), page.has_more) == ([2, 1], True)


def test_cells_pages_before_a_cursor_merge_into_the_rows_nearest_it() -> None:
    cursor = Keyset(T0, uuid4())
    window = Window(2, before=cursor)
    # Each cell's page: its two rows just newer than the cursor, newest first.
    first = Page([row(9), row(3)], has_more=True)
    second = Page([row(4), row(2)], has_more=False)
    merged = Reader._merged(PAYMENT_LIST, [first, second], window)
    assert (minutes(merged), merged.has_more) == ([3, 2], True)


def test_filters_become_bound_conditions() -> None:
    since = T0 + timedelta(days=1)
    filters = Filters(created_gte=since, metadata=(("order", "42"),))
    statement = customer_page(Scope(uuid4()), limit=10, filters=filters)
    assert "c.created_at >= %s" in statement.text
    assert "c.metadata @> %s::jsonb" in statement.text
    assert since in statement.params
    assert '{"order": "42"}' in statement.params
    assert "42" not in statement.text  # values are bound, never spliced


def test_a_page_before_a_cursor_is_read_oldest_first() -> None:
    cursor = Keyset(T0, uuid4())
    statement = refund_page(Scope(uuid4()), limit=5, before=cursor)
    assert "(r.created_at, r.id) > (%s, %s)" in statement.text
    assert statement.text.endswith("ORDER BY r.created_at ASC, r.id ASC LIMIT %s")


def test_kinds_without_metadata_refuse_a_metadata_filter() -> None:
    with pytest.raises(ValueError, match="metadata"):
        refund_page(Scope(), limit=5, filters=Filters(metadata=(("a", "b"),)))
    assert REFUND_LIST.kind == "refund"
