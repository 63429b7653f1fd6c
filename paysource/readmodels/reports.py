"""Finance reports assembled from the read models: daily volume and statements.

A statement reconciles two ways: its closing balance is summed from the ledger
independently of its lines, and opening + Σ lines must equal it.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from paysource.application.spreadsheet import safe_row
from paysource.domain.errors import InvalidValue
from paysource.readmodels.finance.queries import FinanceQueries
from paysource.readmodels.ledger.queries import LedgerQueries

MAX_RANGE_DAYS = 366

# How a posted line on the merchant's balance reads on a statement.
_LINE_TYPES = {
    ("capture", "C"): "capture",
    ("capture", "D"): "fee",
    ("refund", "D"): "refund",
    ("payout", "D"): "payout",
    ("payout_reversal", "C"): "payout_reversal",
    # A dispute's amount and fee taken (two lines), and given back when won.
    ("dispute", "D"): "dispute",
    ("dispute_won", "C"): "dispute_won",
    # A capture the acquirer refused, reversed by an operator: the capture goes, its fee
    # comes back (docs/ledger.md).
    ("capture_reversed", "D"): "capture_reversal",
    ("capture_reversed", "C"): "fee_refund",
}
# The ledger keeps an entry's originator in `payment_id`: for these, a settlement (its
# payout, and its conversion to the payout currency and back: docs/ledger.md).
_SETTLEMENT_KINDS = frozenset(
    {"payout", "payout_reversal", "fx_conversion", "fx_conversion_reversed"}
)
# ... and for these a dispute (docs/disputes.md): not a payment id either.
_DISPUTE_KINDS = frozenset({"dispute", "dispute_won"})


class ReportRangeError(InvalidValue):
    code = "validation_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="to")


class ReportTooLarge(InvalidValue):
    code = "report_too_large"


# Rows a daily-volume report may hold: past it, the caller narrows it (never a silent cut).
MAX_REPORT_ROWS = 10_000
# Lines a statement may hold, for the same reason (a cut statement would not reconcile).
MAX_STATEMENT_LINES = 100_000


EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)


def parse_day(text: str) -> date:
    """A report day, written YYYY-MM-DD only: no datetimes (their offset could move the
    UTC day), no timestamps, no other ISO forms."""
    if not _DAY.fullmatch(text):
        raise ValueError("a day is written YYYY-MM-DD (UTC)")
    return date.fromisoformat(text)


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_range(since: date, until: date) -> None:
    if since < EARLIEST or until > LATEST:
        raise ReportRangeError(f"report days run from {EARLIEST} to {LATEST}")
    if until < since:
        raise ReportRangeError("`to` is before `from`")
    if (until - since).days >= MAX_RANGE_DAYS:
        raise ReportRangeError(f"a report covers at most {MAX_RANGE_DAYS} days")


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StatementLine:
    time: datetime
    type: str
    payment_id: UUID | None
    refund_id: UUID | None
    amount_minor: int
    balance_after_minor: int
    settlement_id: UUID | None = None


@dataclass
class CurrencyStatement:
    currency: str
    opening_minor: int
    closing_minor: int
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def movements_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def reconciles(self) -> bool:
        return self.opening_minor + self.movements_minor == self.closing_minor


@dataclass(frozen=True, slots=True)
class Statement:
    merchant_id: UUID
    since: date
    until: date
    currencies: list[CurrencyStatement]

    @property
    def reconciles(self) -> bool:
        return all(c.reconciles for c in self.currencies)


def statement(ledger: LedgerQueries, *, merchant_id: UUID, since: date, until: date) -> Statement:
    """The merchant's available balance from `since` to `until` (UTC days, inclusive);
    ReportTooLarge past MAX_STATEMENT_LINES."""
    check_range(since, until)
    opening, closing, rows = ledger.posted_lines(
        merchant_id=merchant_id,
        since=_start_of(since),
        until=_start_of(until + timedelta(days=1)),
        limit=MAX_STATEMENT_LINES + 1,
    )
    if len(rows) > MAX_STATEMENT_LINES:
        raise ReportTooLarge(
            f"the statement has more than {MAX_STATEMENT_LINES:,} lines: ask for fewer days"
        )
    by_currency: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_currency[row["currency"]].append(row)
    currencies = []
    for currency in sorted(set(opening) | set(closing) | set(by_currency)):
        section = CurrencyStatement(currency, opening.get(currency, 0), closing.get(currency, 0))
        balance = section.opening_minor
        for row in by_currency[currency]:
            amount = row["amount_minor"] if row["side"] == "C" else -row["amount_minor"]
            balance += amount
            settled = row["kind"] in _SETTLEMENT_KINDS
            section.lines.append(
                StatementLine(
                    time=row["occurred_at"],
                    type=_LINE_TYPES.get((row["kind"], row["side"]), row["kind"]),
                    payment_id=None
                    if settled or row["kind"] in _DISPUTE_KINDS
                    else row["payment_id"],
                    refund_id=row["refund_id"],
                    amount_minor=amount,
                    balance_after_minor=balance,
                    settlement_id=row["payment_id"] if settled else None,
                )
            )
        currencies.append(section)
    return Statement(merchant_id, since, until, currencies)


def daily_volume(
    views: Iterable[FinanceQueries],
    *,
    merchant_id: UUID | None,
    since: date,
    until: date,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of every cell's finance view; ReportTooLarge past MAX_REPORT_ROWS."""
    check_range(since, until)
    rows: list[dict[str, Any]] = []
    for view in views:
        rows += view.daily_volume(
            merchant_id=merchant_id,
            since=since,
            until=until,
            currency=currency,
            limit=MAX_REPORT_ROWS + 1 - len(rows),
        )
        if len(rows) > MAX_REPORT_ROWS:
            raise ReportTooLarge(
                f"the report has more than {MAX_REPORT_ROWS:,} rows: narrow it to one "
                "merchant, one currency or fewer days"
            )
    return rows


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An export, safe to open in a spreadsheet: no text cell is run as a formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(safe_row(row) for row in rows)
    return out.getvalue()
