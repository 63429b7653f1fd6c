"""Every statement line the import accepts clears into an entry the ledger can post:
balanced, every line positive, whatever its gross and fee (docs/ledger.md, "Clearing").
A line that could not be posted would stop the ledger read model for good."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.domain import ledger
from paysource.domain.ledger import AccountKind, Side
from paysource.domain.money import MAX_AMOUNT_MINOR
from paysource.domain.reconciliation import LINE_KINDS

MERCHANT = UUID("00000000-0000-4000-8000-000000000001")
# What statements.parse lets through: 0 ≤ gross, fee ≤ MAX_AMOUNT_MINOR; small
# amounts, where a fee above the gross is common, are drawn often.
AMOUNTS = st.one_of(st.integers(0, 100), st.integers(0, MAX_AMOUNT_MINOR))


@given(kind=st.sampled_from(["capture", "refund", "dispute", "dispute_won"]), gross=AMOUNTS,
       fee=AMOUNTS)  # fmt: skip
@settings(max_examples=500)
def test_a_clearing_entry_balances_with_positive_lines_and_moves_the_lines_net(
    kind: str, gross: int, fee: int
) -> None:
    posting = ledger.cleared(kind, MERCHANT, "USD", gross, fee)  # Entry checks the rules

    moved: dict[AccountKind, int] = defaultdict(int)  # debits - credits
    for line in posting.lines if posting else ():
        assert line.amount_minor > 0
        moved[line.account.kind] += line.amount_minor * (1 if line.side is Side.DEBIT else -1)
    sign = LINE_KINDS[kind].net_sign
    # Our bank gets the acquirer's net; the receivable loses what it owed (or we owed it).
    assert moved[AccountKind.SETTLEMENT_CASH] == sign * gross - fee
    assert moved[AccountKind.ACQUIRER_RECEIVABLE] == -sign * gross
    assert moved[AccountKind.ACQUIRER_FEES] == fee
