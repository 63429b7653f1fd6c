"""An entry is accepted exactly when it balances per currency and phase and every line
moves a positive amount; otherwise it is refused with the figures that disagree."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paysource.domain.ledger import Account, Entry, Line, Phase, Side, UnbalancedEntry

MERCHANT = UUID("00000000-0000-4000-8000-000000000001")
ACCOUNTS = [Account.balance(MERCHANT), Account.receivable(MERCHANT), Account.fees()]

PHASES, CURRENCIES = list(Phase), [None, "USD", "EUR"]


@st.composite
def lines(draw: st.DrawFn) -> list[Line]:
    """Balanced transfers, then perhaps one line changed (its amount, phase, currency or
    side) or both of a transfer (their amount): balanced and unbalanced entries, and
    lines of zero or less, are all common."""
    made: list[Line] = []
    for _ in range(draw(st.integers(0, 3))):
        debit, credit = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=2, max_size=2))
        phase, currency = draw(st.sampled_from(PHASES)), draw(st.sampled_from(CURRENCIES))
        amount = draw(st.integers(min_value=1, max_value=9))
        made += [
            Line(debit, Side.DEBIT, phase, amount, currency),
            Line(credit, Side.CREDIT, phase, amount, currency),
        ]
    change = draw(st.sampled_from(["none", "amount", "both", "phase", "currency", "side"]))
    if made and change == "both":  # still balanced, but perhaps by zero or negative lines
        i, amount = 2 * draw(st.integers(0, len(made) // 2 - 1)), draw(st.integers(-3, 9))
        made[i : i + 2] = [replace(line, amount_minor=amount) for line in made[i : i + 2]]
    elif made and change != "none":
        i = draw(st.integers(0, len(made) - 1))
        line = made[i]
        if change == "amount":
            line = replace(line, amount_minor=draw(st.integers(min_value=-3, max_value=9)))
        elif change == "phase":
            line = replace(line, phase=draw(st.sampled_from(PHASES)))
        elif change == "currency":
            line = replace(line, currency=draw(st.sampled_from(CURRENCIES)))
        else:
            line = replace(line, side=Side.CREDIT if line.side is Side.DEBIT else Side.DEBIT)
        made[i] = line
    return made


def balanced(entry_currency: str, lines: list[Line]) -> bool:
    """The rule written the slow, obvious way."""
    currencies = {line.currency or entry_currency for line in lines}
    for currency in currencies:
        for phase in Phase:
            mine = [
                line
                for line in lines
                if line.phase is phase and (line.currency or entry_currency) == currency
            ]
            debits = sum(line.amount_minor for line in mine if line.side is Side.DEBIT)
            credits_ = sum(line.amount_minor for line in mine if line.side is Side.CREDIT)
            if debits != credits_:
                return False
    return True


@given(st.sampled_from(["USD", "EUR"]), lines())
def test_an_entry_is_accepted_exactly_when_balanced_and_positive(
    currency: str, made: list[Line]
) -> None:
    expected = balanced(currency, made) and all(line.amount_minor > 0 for line in made)

    try:
        Entry("test", currency, tuple(made))
    except UnbalancedEntry:
        accepted = False
    else:
        accepted = True

    assert accepted == expected


def test_an_unbalanced_entry_names_its_currency_phase_and_both_sums() -> None:
    lines = (
        Line(ACCOUNTS[0], Side.DEBIT, Phase.POSTED, 500),
        Line(ACCOUNTS[1], Side.CREDIT, Phase.POSTED, 300),
        Line(ACCOUNTS[2], Side.CREDIT, Phase.POSTED, 100),
    )

    with pytest.raises(UnbalancedEntry, match=r"capture: EUR posted debits 500 != credits 400"):
        Entry("capture", "EUR", lines)
