"""The matcher: which statement lines agree with the ledger, and every break named."""

from __future__ import annotations

import dataclasses
from datetime import date
from uuid import UUID, uuid4

from paysource.domain.reconciliation import (
    BreakKind,
    Expected,
    Matching,
    StatementLine,
    match,
)

DAY = date(2026, 12, 4)
MERCHANT = UUID(int=7)


def expected(kind: str = "capture", amount: int = 2500, day: date = DAY) -> Expected:
    return Expected(kind, uuid4(), MERCHANT, "USD", amount, day)


def line_for(item: Expected, number: int, *, amount: int | None = None) -> StatementLine:
    gross = item.amount_minor if amount is None else amount
    return StatementLine(item.kind, item.key, "sim_ref", item.currency, gross, 0, DAY, number)


def kinds(result: Matching) -> list[tuple[BreakKind, UUID]]:
    return sorted((found.kind, found.key) for found in result.breaks)


def test_a_file_that_agrees_with_the_ledger_matches_every_line_and_breaks_nothing() -> None:
    items = [expected(), expected("refund", 700), expected(amount=1)]
    lines = [line_for(item, n) for n, item in enumerate(items, start=2)]
    result = match(lines, items, cleared={}, days=frozenset([DAY]))
    assert result.breaks == ()
    assert {pair.item for pair in result.matched} == set(items)


def test_an_altered_amount_a_missing_line_and_an_extra_line_are_exactly_three_breaks() -> None:
    altered, missing, kept = expected(), expected(), expected("refund", 300)
    stranger = StatementLine("capture", uuid4(), "sim_x", "USD", 999, 0, DAY, 4)
    lines = [line_for(altered, 2, amount=2499), line_for(kept, 3), stranger]
    result = match(lines, [altered, missing, kept], cleared={}, days=frozenset([DAY]))
    assert kinds(result) == sorted(
        [
            (BreakKind.AMOUNT_DIFFERS, altered.key),
            (BreakKind.MISSING, missing.key),
            (BreakKind.EXTRA, stranger.key),
        ]
    )
    differs = next(b for b in result.breaks if b.kind is BreakKind.AMOUNT_DIFFERS)
    assert (differs.expected_minor, differs.actual_minor, differs.line) == (2500, 2499, 2)
    assert [pair.item for pair in result.matched] == [kept]


def test_another_line_for_an_item_an_earlier_file_cleared_is_extra_and_clears_nothing() -> None:
    item = expected()
    earlier = line_for(item, 5).fact
    again = dataclasses.replace(earlier, day=date(2026, 12, 5), number=2)
    result = match([again], [item], cleared={item.item: earlier}, days=frozenset())
    assert kinds(result) == [(BreakKind.EXTRA, item.key)]
    assert result.matched == ()


def test_the_line_that_cleared_an_item_is_no_news_in_a_later_file() -> None:
    item = expected()
    earlier = line_for(item, 5)
    result = match([earlier], [item], cleared={item.item: earlier.fact}, days=frozenset([DAY]))
    assert result == Matching((), ())


def test_items_of_other_days_are_not_missing_from_this_file() -> None:
    other_day = expected(day=date(2026, 12, 3))
    result = match([], [other_day], cleared={}, days=frozenset([DAY]))
    assert result.breaks == ()


def test_two_different_lines_for_one_item_match_the_agreeing_one_and_the_other_is_extra() -> None:
    item = expected()
    lines = [line_for(item, 2, amount=1), line_for(item, 3)]
    result = match(lines, [item], cleared={}, days=frozenset([DAY]))
    assert [pair.line.number for pair in result.matched] == [3]
    assert [(b.kind, b.line) for b in result.breaks] == [(BreakKind.EXTRA, 2)]
