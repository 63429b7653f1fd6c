"""For any statement, the matcher's answer depends on the lines' contents only: any
order of the lines, and any line repeated, gives the same matches and breaks; and
every line and every item of the day is accounted for exactly once."""

from __future__ import annotations

import dataclasses
from datetime import date
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from paysource.domain.reconciliation import (
    LINE_KINDS,
    BreakKind,
    Expected,
    Matching,
    Source,
    StatementLine,
    match,
)

DAY = date(2026, 12, 4)
KEYS = [UUID(int=n) for n in range(1, 4)]  # few: lines often share an item
# Captures, refunds and chargebacks: a dispute's two lines share its key.
ACQUIRER_KINDS = sorted(k for k, kind in LINE_KINDS.items() if kind.source is Source.ACQUIRER)

items = st.lists(
    st.builds(
        Expected,
        kind=st.sampled_from(ACQUIRER_KINDS),
        key=st.sampled_from(KEYS),
        merchant_id=st.just(UUID(int=99)),
        currency=st.sampled_from(["USD", "JPY"]),
        amount_minor=st.integers(1, 3),
        day=st.sampled_from([DAY, date(2026, 12, 3)]),
    ),
    unique_by=lambda item: item.item,
    max_size=6,
)
lines = st.lists(
    st.builds(
        StatementLine,
        kind=st.sampled_from(ACQUIRER_KINDS),
        key=st.sampled_from(KEYS),
        reference=st.sampled_from(["a", "b"]),
        currency=st.sampled_from(["USD", "JPY"]),
        amount_minor=st.integers(1, 3),
        fee_minor=st.just(0),
        day=st.just(DAY),
    ),
    max_size=8,
)


def numbered(found: list[StatementLine]) -> list[StatementLine]:
    return [dataclasses.replace(line, number=n) for n, line in enumerate(found, start=2)]


def canonical(result: Matching) -> tuple[object, ...]:
    """The result without line numbers (which a reordering changes)."""
    matched = sorted((pair.line.fact, pair.item) for pair in result.matched)
    breaks = sorted(repr(dataclasses.replace(b, line=None)) for b in result.breaks)
    return (matched, breaks)


@given(items, lines, st.data())
def test_any_permutation_or_duplication_of_the_file_gives_the_same_result(
    expected: list[Expected], file: list[StatementLine], data: st.DataObject
) -> None:
    days = frozenset([DAY])
    # Items an earlier file cleared, each by one of this file's lines or by another.
    cleared = (
        {
            line.item: line.fact if keep else dataclasses.replace(line.fact, reference="earlier")
            for line, keep in data.draw(st.lists(st.tuples(st.sampled_from(file), st.booleans())))
        }
        if file
        else {}
    )
    first = match(numbered(file), expected, cleared=cleared, days=days)
    shuffled = data.draw(st.permutations(file))
    repeated = data.draw(st.lists(st.sampled_from(file), max_size=4)) if file else []
    again = match(numbered(shuffled + repeated), expected, cleared=cleared, days=days)
    assert canonical(again) == canonical(first)


@given(items, lines)
def test_every_distinct_line_is_matched_or_a_break_and_no_item_is_matched_twice(
    expected: list[Expected], file: list[StatementLine]
) -> None:
    result = match(numbered(file), expected, cleared={}, days=frozenset([DAY]))
    facts = {line.fact for line in file}
    from_lines = [b for b in result.breaks if b.kind is not BreakKind.MISSING]
    assert len(result.matched) + len(from_lines) == len(facts)
    matched_items = [pair.item.item for pair in result.matched]
    assert len(matched_items) == len(set(matched_items))
    for pair in result.matched:
        assert (pair.line.currency, pair.line.amount_minor) == (
            pair.item.currency,
            pair.item.amount_minor,
        )
    missing = {b.key for b in result.breaks if b.kind is BreakKind.MISSING}
    in_file = {line.item for line in file}
    assert missing == {i.key for i in expected if i.day == DAY and i.item not in in_file}
