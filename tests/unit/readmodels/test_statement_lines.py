"""What each statement line names: the ledger keeps an entry's originator in one column
(`payment_id`), a payment, a dispute or a settlement; the statement says which."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from paysource.entrypoints import reports as rep
from paysource.readmodels import reports

T = datetime(2026, 11, 2, tzinfo=UTC)


class Ledger:
    """`LedgerQueries.posted_lines` with the lines given."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def posted_lines(self, **_: Any) -> tuple[dict[str, int], dict[str, int], list[dict[str, Any]]]:
        closing: dict[str, int] = {}
        for row in self.rows:
            sign = 1 if row["side"] == "C" else -1
            closing[row["currency"]] = closing.get(row["currency"], 0) + sign * row["amount_minor"]
        return {}, closing, self.rows


def line(kind: str, currency: str, side: str, originator: UUID) -> dict[str, Any]:
    return {
        "occurred_at": T,
        "currency": currency,
        "side": side,
        "amount_minor": 1_000,
        "kind": kind,
        "payment_id": originator,
        "refund_id": None,
        "entry_id": uuid4(),
    }


def rendered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = reports.statement(
        Ledger(rows),  # type: ignore[arg-type]  # the one method a statement reads
        merchant_id=uuid4(),
        since=date(2026, 11, 1),
        until=date(2026, 11, 30),
    )
    return [ln for section in rep.statement(found)["currencies"] for ln in section["lines"]]


@pytest.mark.parametrize("kind", ["fx_conversion", "fx_conversion_reversed", "payout"])
def test_a_settlements_line_names_the_settlement_and_no_payment(kind: str) -> None:
    settlement = uuid4()
    rows = [line(kind, "EUR", "C", settlement), line(kind, "USD", "D", settlement)]

    shown = rendered(rows)

    assert [(ln["payment"], ln["settlement"]) for ln in shown] == [
        (None, f"stl_{settlement.hex}")
    ] * 2


def test_a_captures_line_names_the_payment_and_no_settlement() -> None:
    payment = uuid4()

    (shown,) = rendered([line("capture", "USD", "C", payment)])

    assert (shown["payment"], shown["settlement"]) == (f"pay_{payment.hex}", None)
