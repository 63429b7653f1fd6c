"""The two CSV files reconciliation reads (docs/reconciliation.md describes them).

The acquirer's settlement file, one line per capture, refund or chargeback it moved:

    date,type,payment,refund,dispute,acquirer_reference,currency,gross_minor,fee_minor,net_minor

(the header without `dispute`, the format before chargebacks, is still read: its lines
are captures and refunds.)

The bank's statement, one line per payout it credited:

    date,bank_reference,payout_reference,currency,amount_minor

A file is read whole before anything is done with it: the first malformed line
refuses the file (`MalformedStatement`, with the line number and the reason), and so
does a card number in any cell (`StatementCardNumber`, naming the line and column,
never the value), as the JSON API refuses one anywhere in a body.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from paysource.application.ids import Kind, encode
from paysource.domain.card import contains_pan
from paysource.domain.errors import CardNumberRefused, InvalidCurrency, InvalidValue, PaysourceError
from paysource.domain.money import MAX_AMOUNT_MINOR, check_currency
from paysource.domain.reconciliation import LINE_KINDS, ItemKey, Source, StatementLine

ACQUIRER_COLUMNS = (
    "date", "type", "payment", "refund", "dispute", "acquirer_reference", "currency",
    "gross_minor", "fee_minor", "net_minor",
)  # fmt: skip
# The acquirer's header before chargebacks: a file imported then still reads (and
# replays) the same.
ACQUIRER_COLUMNS_V1 = tuple(column for column in ACQUIRER_COLUMNS if column != "dispute")
BANK_COLUMNS = ("date", "bank_reference", "payout_reference", "currency", "amount_minor")
AMOUNT_COLUMNS = frozenset({"gross_minor", "fee_minor", "net_minor", "amount_minor"})
COLUMNS = {Source.ACQUIRER: ACQUIRER_COLUMNS, Source.BANK: BANK_COLUMNS}
HEADERS = {Source.ACQUIRER: (ACQUIRER_COLUMNS, ACQUIRER_COLUMNS_V1), Source.BANK: (BANK_COLUMNS,)}
# Each acquirer line kind names its item in one column, by one kind of id.
_ITEM_COLUMNS = {
    "capture": (Kind.PAYMENT, "payment"),
    "refund": (Kind.REFUND, "refund"),
    "dispute": (Kind.DISPUTE, "dispute"),
    "dispute_won": (Kind.DISPUTE, "dispute"),
}
MAX_LINES = 100_000
MAX_TEXT = 200


class MalformedStatement(InvalidValue):
    """A statement file that cannot be read: nothing of it is imported."""

    code = "malformed_statement"

    def __init__(self, line: int, reason: str, *, field: str | None = None) -> None:
        super().__init__(f"line {line}: {reason}", field=field)
        self.line = line


class StatementCardNumber(CardNumberRefused):
    """A cell that holds a card number: nothing of the file is imported."""

    def __init__(self, line: int, column: str) -> None:
        super().__init__(
            f"line {line}: {column} looks like a card number; card numbers are never accepted",
            field=column,
        )
        self.line = line


@dataclass(frozen=True, slots=True)
class Statement:
    source: Source
    digest: str
    days: frozenset[date]
    lines: tuple[StatementLine, ...]

    @property
    def items(self) -> frozenset[ItemKey]:
        return frozenset(line.item for line in self.lines)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def parse(source: Source, text: str, *, day: date | None = None) -> Statement:
    """Read a whole file; `day` is its date, required only when it has no line."""
    text = text.removeprefix("\ufeff")  # the byte-order mark spreadsheets write
    if "\x00" in text:
        raise MalformedStatement(1, "the file holds a NUL character")
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as error:  # an unclosed quote, a field over csv's size limit
        raise MalformedStatement(reader.line_num, f"not CSV: {error}") from None
    columns = tuple(cell.strip() for cell in rows[0]) if rows else ()
    if columns not in HEADERS[source]:
        raise MalformedStatement(1, f"the header must be {','.join(COLUMNS[source])}")
    if len(rows) - 1 > MAX_LINES:
        raise MalformedStatement(MAX_LINES + 2, f"more than {MAX_LINES} lines")
    read = _acquirer_line if source is Source.ACQUIRER else _bank_line
    lines = tuple(
        _line(read, row, number, columns)
        for number, row in enumerate(rows[1:], start=2)
        if row  # a blank line is no line
    )
    days = _days(lines, day)
    # A file is named by its bytes, but every file without a line (a day without
    # payouts) has the same ones: its day names it too, or each later day would answer
    # as the first one's import and never be reconciled.
    named = text if lines else f"{text}\n{min(days).isoformat()}"
    return Statement(source, digest(named), days, lines)


def _days(lines: tuple[StatementLine, ...], day: date | None) -> frozenset[date]:
    """A file covers one day: every line's date, and the given one if any."""
    if day is None and not lines:
        raise MalformedStatement(1, "a file with no line needs its date (--date, ?date=)")
    covered = day or lines[0].day
    for line in lines:
        if line.day != covered:
            raise MalformedStatement(
                line.number, f"date {line.day}: the file is of {covered}", field="date"
            )
    return frozenset([covered])


def _line(
    read: Callable[[dict[str, str], int], StatementLine],
    row: list[str],
    number: int,
    columns: tuple[str, ...],
) -> StatementLine:
    if len(row) != len(columns):
        raise MalformedStatement(number, f"{len(row)} fields, expected {len(columns)}")
    cells = {name: value.strip() for name, value in zip(columns, row, strict=True)}
    for name, value in cells.items():
        if len(value) > MAX_TEXT:
            raise MalformedStatement(number, f"{name} is longer than {MAX_TEXT}", field=name)
    _refuse_card_numbers(cells, number)
    try:
        return read(cells, number)
    except MalformedStatement:
        raise
    except PaysourceError as error:
        raise MalformedStatement(
            number, error.detail, field=getattr(error, "field", None)
        ) from None


def _refuse_card_numbers(cells: dict[str, str], number: int) -> None:
    # PCI scope stops at the edge: a reference is kept in events and read models, and
    # any cell may end up in an error. An amount that reads as an integer is a number,
    # not text (as JSON numbers): a 13+ digit amount is Luhn-valid one time in ten.
    for name, value in cells.items():
        if name in AMOUNT_COLUMNS and _is_integer(value):
            continue
        if contains_pan(value):
            raise StatementCardNumber(number, name)


def _acquirer_line(cells: dict[str, str], number: int) -> StatementLine:
    kind = LINE_KINDS.get(cells["type"])
    if kind is None or kind.source is not Source.ACQUIRER or kind.name not in _ITEM_COLUMNS:
        raise MalformedStatement(
            number, "type must be capture, refund, dispute or dispute_won", field="type"
        )
    gross, fee = _amount(cells, "gross_minor", number), _amount(cells, "fee_minor", number)
    net = _integer(cells, "net_minor", number)
    if net != kind.net_sign * gross - fee:
        expected = "gross - fee" if kind.net_sign > 0 else "-(gross + fee)"
        raise MalformedStatement(number, f"net_minor must be {expected}", field="net_minor")
    id_kind, column = _ITEM_COLUMNS[kind.name]
    if column not in cells:  # the header before chargebacks has no `dispute` column
        raise MalformedStatement(number, f"a {kind.name} line needs a dispute column", field="type")
    key = _id(id_kind, cells, column, number)
    return StatementLine(
        kind.name, key, cells["acquirer_reference"], _currency(cells, number),
        gross, fee, _day(cells, number), number,
    )  # fmt: skip


def _bank_line(cells: dict[str, str], number: int) -> StatementLine:
    return StatementLine(
        "payout", _id(Kind.SETTLEMENT, cells, "payout_reference", number),
        cells["bank_reference"], _currency(cells, number),
        _amount(cells, "amount_minor", number), 0, _day(cells, number), number,
    )  # fmt: skip


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(cells: dict[str, str], number: int) -> date:
    try:
        if not _DAY.fullmatch(cells["date"]):  # fromisoformat takes 20261208, 2026-W49-5
            raise ValueError(cells["date"])
        return date.fromisoformat(cells["date"])
    except ValueError:
        raise MalformedStatement(number, "date must be YYYY-MM-DD", field="date") from None


def _currency(cells: dict[str, str], number: int) -> str:
    try:
        return check_currency(cells["currency"])
    except InvalidCurrency:  # its detail repeats the cell: a file's cell is never echoed
        raise MalformedStatement(
            number, "currency must be an ISO 4217 currency code", field="currency"
        ) from None


def _is_integer(text: str) -> bool:
    # One optional minus, then ASCII digits: `int()` alone would also take "+5", "1_0"
    # and " 5", and stripping every minus let "--5" through to a crash.
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit()


def _integer(cells: dict[str, str], name: str, number: int) -> int:
    if not _is_integer(cells[name]):
        raise MalformedStatement(number, f"{name} must be an integer (minor units)", field=name)
    value = int(cells[name])
    if abs(value) > 2 * MAX_AMOUNT_MINOR:
        raise MalformedStatement(number, f"{name} is out of range", field=name)
    return value


def _amount(cells: dict[str, str], name: str, number: int) -> int:
    value = _integer(cells, name, number)
    if not 0 <= value <= MAX_AMOUNT_MINOR:
        raise MalformedStatement(
            number, f"{name} must be between 0 and {MAX_AMOUNT_MINOR}", field=name
        )
    return value


def _id(kind: Kind, cells: dict[str, str], name: str, number: int) -> UUID:
    head, _, rest = cells[name].partition("_")
    if head != kind.value or len(rest) != 32 or not all(c in "0123456789abcdef" for c in rest):
        raise MalformedStatement(number, f"{name} must be a {kind.value}_… id", field=name)
    return UUID(hex=rest)


# Writing (the simulators' files) -----------------------------------------------------


def to_csv(source: Source, rows: Iterable[Iterable[object]]) -> str:
    # A rail's file, read back by the import, with the simulators' own references: not
    # an export for a spreadsheet, so its cells are written exactly (application/spreadsheet.py).
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS[source])
    writer.writerows(rows)
    return buffer.getvalue()


def acquirer_row(line: StatementLine) -> list[object]:
    """A capture, refund or chargeback line: its item's id in its kind's column (the
    others empty); the acquirer's net follows from gross and fee."""
    kind = LINE_KINDS[line.kind]
    id_kind, column = _ITEM_COLUMNS[line.kind]
    ids = dict.fromkeys(("payment", "refund", "dispute"), "")
    ids[column] = encode(id_kind, line.key)
    net = kind.net_sign * line.amount_minor - line.fee_minor
    return [
        line.day.isoformat(), line.kind, ids["payment"], ids["refund"], ids["dispute"],
        line.reference, line.currency, line.amount_minor, line.fee_minor, net,
    ]  # fmt: skip


def bank_row(line: StatementLine) -> list[object]:
    settlement = encode(Kind.SETTLEMENT, line.key)
    return [line.day.isoformat(), line.reference, settlement, line.currency, line.amount_minor]
