"""Clearing entries (docs/ledger.md, "Clearing"): a matched statement line posts a
balanced entry of positive lines, even when the acquirer's fee is above the amount."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

import pytest

from paysource.domain import ledger
from paysource.domain.ledger import Entry, Phase, Side

MERCHANT = UUID("00000000-0000-4000-8000-000000000001")


def posted(entry: Entry | None) -> dict[str, tuple[int, int]]:
    """(debits, credits) posted per account kind."""
    assert entry is not None  # Entry checked: balanced, every line positive
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in entry.lines:
        assert line.phase is Phase.POSTED
        found[str(line.account.kind)][line.side is Side.CREDIT] += line.amount_minor
    return {kind: (sides[0], sides[1]) for kind, sides in found.items()}


def test_a_capture_line_moves_the_receivable_into_our_bank_less_the_fee() -> None:
    # docs/ledger.md's example: a 7000 capture settled with a 20 fee.
    assert posted(ledger.cleared("capture", MERCHANT, "USD", 7_000, 20)) == {
        "settlement_cash": (6_980, 0),
        "acquirer_receivable": (0, 7_000),
        "acquirer_fees": (20, 0),
    }


@pytest.mark.parametrize("kind", ["capture", "dispute_won"])
def test_a_fee_above_the_amount_is_taken_from_our_bank_not_a_negative_line(kind: str) -> None:
    # A fixed 10-cent fee on a 5-cent capture: the acquirer paid nothing and took 5.
    assert posted(ledger.cleared(kind, MERCHANT, "USD", 5, 10)) == {
        "settlement_cash": (0, 5),
        "acquirer_receivable": (0, 5),
        "acquirer_fees": (10, 0),
    }


def test_a_fee_on_nothing_is_taken_whole_from_our_bank() -> None:
    assert posted(ledger.cleared("capture", MERCHANT, "USD", 0, 10)) == {
        "settlement_cash": (0, 10),
        "acquirer_fees": (10, 0),
    }


@pytest.mark.parametrize("kind", ["refund", "dispute"])
def test_a_refund_or_chargeback_line_takes_the_amount_and_the_fee_from_our_bank(
    kind: str,
) -> None:
    assert posted(ledger.cleared(kind, MERCHANT, "USD", 5, 10)) == {
        "settlement_cash": (0, 15),
        "acquirer_receivable": (5, 0),
        "acquirer_fees": (10, 0),
    }
