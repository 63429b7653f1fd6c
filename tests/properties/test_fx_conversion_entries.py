"""A conversion the domain accepts is one the ledger and the payout can apply: its
`fx_conversion` entry (and its reversal) balances with positive lines, and its payout
is an amount, whatever the rate and the items' nets (some of them debits, so their
half-even sum can fall to zero or below under a positive net). A conversion that could
not be applied is refused before anything is recorded (docs/ledger.md, "FX conversion")."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from hypothesis import event, given, settings
from hypothesis import strategies as st

from paysource.domain import ledger
from paysource.domain.fx import ConversionOutOfRange, conversion
from paysource.domain.ledger import Entry, Phase, Side
from paysource.domain.money import MAX_AMOUNT_MINOR, Money
from paysource.domain.rates import MAX_RATE, Rate

T = datetime(2026, 12, 1, tzinfo=UTC)
MERCHANT = UUID("00000000-0000-4000-8000-000000000001")
# One currency of each exponent: 0, 2, 3 and 4 decimals.
CURRENCIES = ["JPY", "USD", "KWD", "CLF"]

pairs = st.lists(st.sampled_from(CURRENCIES), min_size=2, max_size=2, unique=True)
# Rates from 10^-6 to MAX_RATE, with up to 6 decimals.
rates = st.builds(
    lambda digits, places: min(Decimal(digits).scaleb(-places), MAX_RATE),
    st.integers(1, 10**12),
    st.integers(0, 6),
)
nets = st.one_of(st.integers(-50, 50), st.integers(-MAX_AMOUNT_MINOR, MAX_AMOUNT_MINOR))


@st.composite
def item_nets(draw: st.DrawFn) -> list[int]:
    """Items whose net is positive (only such a settlement converts)."""
    found = draw(st.lists(nets, min_size=1, max_size=8))
    if sum(found) <= 0:
        found.append(-sum(found) + draw(st.integers(1, 100)))
    return found


def posted(*entries: Entry | None) -> dict[tuple[str, str], int]:
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for made in entries:
        for line in made.lines if made else ():
            if line.phase is Phase.POSTED:
                sign = 1 if line.side is Side.DEBIT else -1
                moved[(line.account.name, line.currency_in(made))] += sign * line.amount_minor
    return {key: value for key, value in moved.items() if value}


@given(pair=pairs, rate=rates, nets=item_nets())
@settings(max_examples=1_000)
def test_an_accepted_conversion_always_posts_balanced_and_pays_an_amount(
    pair: list[str], rate: Decimal, nets: list[int]
) -> None:
    try:
        found = conversion(Rate(pair[0], pair[1], rate, T), nets, sum(nets))
    except ConversionOutOfRange:
        event("refused")
        return
    event("items <= 0" if found.items_minor <= 0 else "items > 0")
    figures = {
        "net_minor": found.net_minor,
        "items_minor": found.items_minor,
        "payout_minor": found.payout_minor,
    }

    # Entry refuses an unbalanced entry or a line of zero or less.
    there = ledger.fx_converted(MERCHANT, pair[0], pair[1], **figures)
    back = ledger.fx_reversed(MERCHANT, pair[0], pair[1], **figures)

    assert Money(found.payout_minor, pair[1])  # the payout processor's amount
    assert all(abs(net) <= MAX_AMOUNT_MINOR for net in found.item_nets)
    assert posted(there, back) == {}
