"""Reading the rails' files: what the simulators write reads back the same, and every
malformed line refuses the whole file with its number and the reason."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from paysource.application import statements
from paysource.application.statements import MalformedStatement, parse
from paysource.domain.errors import CardNumberRefused
from paysource.domain.reconciliation import Source, StatementLine

DAY = date(2026, 12, 4)
HEADER = ",".join(statements.ACQUIRER_COLUMNS)
PAY = f"pay_{'a' * 32}"
DP = f"dp_{'d' * 32}"
PAN = "4111111111111111"


def test_the_simulators_lines_read_back_as_written() -> None:
    written = [
        StatementLine("capture", uuid4(), "sim_1", "USD", 2500, 80, DAY, 2),
        StatementLine("refund", uuid4(), "simre_1", "JPY", 700, 0, DAY, 3),
        StatementLine("dispute", uuid4(), "simcb_1", "USD", 1000, 15, DAY, 4),
        StatementLine("dispute_won", uuid4(), "simcbr_1", "USD", 1000, 0, DAY, 5),
    ]
    text = statements.to_csv(Source.ACQUIRER, map(statements.acquirer_row, written))
    payout = StatementLine("payout", uuid4(), "po_1", "EUR", 9900, 0, DAY, 2)
    bank = statements.to_csv(Source.BANK, [statements.bank_row(payout)])

    assert parse(Source.ACQUIRER, text).lines == tuple(written)
    assert parse(Source.BANK, bank).lines == (payout,)
    assert parse(Source.ACQUIRER, text).days == frozenset([DAY])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (f"2026-12-04,capture,{PAY},,,r,USD,100,0", "9 fields, expected 10"),
        (f"2026-12-04,chargeback,{PAY},,,r,USD,100,0,100", "type must be capture, refund, dis"),
        (f"2026-12-04,dispute,{PAY},,,r,USD,100,0,-100", "dispute must be a dp_… id"),
        (f"2026-12-04,dispute,,,{DP},r,USD,100,0,100", "net_minor must be -(gross + fee)"),
        (f"2026-12-04,dispute_won,,,{DP},r,USD,100,0,-100", "net_minor must be gross - fee"),
        ("2026-12-04,capture,pay_123,,,r,USD,100,0,100", "payment must be a pay_… id"),
        (f"2026-12-04,capture,{PAY},,,r,XYZ,100,0,100", "currency must be an ISO 4217 currency"),
        (f"2026-12-04,capture,{PAY},,,r,USD,1e3,0,1000", "gross_minor must be an integer"),
        (f"2026-12-04,capture,{PAY},,,r,USD,-5,0,-5", "gross_minor must be between 0"),
        (f"2026-12-04,capture,{PAY},,,r,USD,5,0,--5", "net_minor must be an integer"),
        (f"2026-12-04,capture,{PAY},,,r,USD,5,0,-", "net_minor must be an integer"),
        (f"2026-12-04,capture,{PAY},,,r,USD,--5,0,5", "gross_minor must be an integer"),
        (f"2026-12-04,capture,{PAY},,,r,USD,100,1,100", "net_minor must be gross - fee"),
        (f"2026-12-04,refund,,re_{'b' * 32},,r,USD,100,0,100", "net_minor must be -(gross + fee)"),
        (f"04/12/2026,capture,{PAY},,,r,USD,100,0,100", "date must be YYYY-MM-DD"),
        (f"20261204,capture,{PAY},,,r,USD,100,0,100", "date must be YYYY-MM-DD"),
        (f"2026-W49-5,capture,{PAY},,,r,USD,100,0,100", "date must be YYYY-MM-DD"),
        (
            f"2026-12-05,capture,{PAY},,,r,USD,100,0,100",
            "date 2026-12-05: the file is of 2026-12-04",
        ),
    ],
)
def test_a_malformed_line_refuses_the_file_with_its_number_and_reason(
    line: str, reason: str
) -> None:
    good = f"2026-12-04,capture,pay_{'c' * 32},,,r,USD,100,0,100"
    with pytest.raises(MalformedStatement) as refused:
        parse(Source.ACQUIRER, f"{HEADER}\n{good}\n{line}\n")
    assert refused.value.line == 3
    assert refused.value.detail.startswith(f"line 3: {reason}")


def test_a_bank_amount_with_two_minus_signs_is_malformed_not_a_crash() -> None:
    header = ",".join(statements.BANK_COLUMNS)
    line = f"2026-12-04,b_1,stl_{'e' * 32},USD,--1"
    with pytest.raises(MalformedStatement, match="line 2: amount_minor must be an integer"):
        parse(Source.BANK, f"{header}\n{line}\n")


def test_a_wrong_header_or_an_empty_file_without_its_date_is_refused_at_line_1() -> None:
    with pytest.raises(MalformedStatement, match="line 1: the header must be"):
        parse(Source.BANK, f"{HEADER}\n")
    with pytest.raises(MalformedStatement, match="line 1: a file with no line needs its date"):
        parse(Source.ACQUIRER, f"{HEADER}\n")
    assert parse(Source.ACQUIRER, f"{HEADER}\n", day=DAY).days == frozenset([DAY])


def test_files_without_a_line_are_named_by_their_day_too() -> None:
    # Their bytes are the same every day: by them alone, each later day's empty file
    # was the first one's import again, and never reconciled.
    first = parse(Source.ACQUIRER, f"{HEADER}\n", day=DAY)
    again = parse(Source.ACQUIRER, f"{HEADER}\n", day=DAY)
    next_day = parse(Source.ACQUIRER, f"{HEADER}\n", day=date(2026, 12, 5))
    assert first.digest == again.digest != next_day.digest
    line = f"2026-12-04,capture,{PAY},,,r,USD,100,0,100"
    with_line = parse(Source.ACQUIRER, f"{HEADER}\n{line}\n")
    assert with_line.digest == statements.digest(f"{HEADER}\n{line}\n")  # as it always was


def test_a_byte_order_mark_is_not_part_of_the_header() -> None:
    line = f"2026-12-04,capture,{PAY},,,r,USD,100,0,100"
    marked = parse(Source.ACQUIRER, f"\ufeff{HEADER}\n{line}\n")
    assert marked == parse(Source.ACQUIRER, f"{HEADER}\n{line}\n")


def test_a_field_too_large_for_csv_is_a_malformed_line_not_a_crash() -> None:
    text = f"{HEADER}\n2026-12-04,capture,{PAY},,,{'r' * 200_000},USD,1,0,1\n"
    with pytest.raises(MalformedStatement, match="line 2: not CSV"):
        parse(Source.ACQUIRER, text)


def test_the_header_before_chargebacks_still_reads_its_captures_and_refunds() -> None:
    header = ",".join(statements.ACQUIRER_COLUMNS_V1)
    capture = f"2026-12-04,capture,{PAY},,r,USD,100,0,100"
    refund = f"2026-12-04,refund,,re_{'b' * 32},r,USD,40,0,-40"

    read = parse(Source.ACQUIRER, f"{header}\n{capture}\n{refund}\n")

    assert [(line.kind, line.amount_minor) for line in read.lines] == [
        ("capture", 100),
        ("refund", 40),
    ]
    with pytest.raises(MalformedStatement, match="line 2: a dispute line needs a dispute column"):
        parse(Source.ACQUIRER, f"{header}\n2026-12-04,dispute,{PAY},,r,USD,1,0,-1\n")


@pytest.mark.parametrize(
    ("line", "column"),
    [
        (f"2026-12-04,capture,{PAY},,,{PAN},USD,100,0,100", "acquirer_reference"),
        (f"2026-12-04,capture,{PAY},,,ref 4111 1111 1111 1111,USD,100,0,100", "acquirer_reference"),
        (f"2026-12-04,capture,{PAY},,,r,{PAN},100,0,100", "currency"),
        (f"2026-12-04,capture,{PAY},,,r,USD,4111 1111 1111 1111,0,100", "gross_minor"),
        (f"2026-12-04,capture,{PAY},{PAN},,r,USD,100,0,100", "refund"),
    ],
)
def test_a_card_number_in_any_cell_refuses_the_file_naming_line_and_column_not_value(
    line: str, column: str
) -> None:
    good = f"2026-12-04,capture,pay_{'c' * 32},,,r,USD,100,0,100"
    with pytest.raises(CardNumberRefused) as refused:
        parse(Source.ACQUIRER, f"{HEADER}\n{good}\n{line}\n")
    assert refused.value.detail.startswith(f"line 3: {column} ")
    assert refused.value.field == column
    assert "4111" not in refused.value.detail


def test_a_card_number_as_the_banks_reference_refuses_the_file() -> None:
    header = ",".join(statements.BANK_COLUMNS)
    line = f"2026-12-04,{PAN},stl_{'e' * 32},USD,100"
    with pytest.raises(CardNumberRefused, match=r"^line 2: bank_reference ") as refused:
        parse(Source.BANK, f"{header}\n{line}\n")
    assert PAN not in refused.value.detail


def test_an_amount_is_a_number_not_text_so_a_long_luhn_valid_one_is_still_an_amount() -> None:
    # As JSON numbers: a 13+ digit amount (10^10 IDR in minor units) is Luhn-valid one
    # time in ten; refusing it would refuse a real day's file.
    amount = 378282246310005
    line = f"2026-12-04,capture,{PAY},,,r,IDR,{amount},0,{amount}"
    assert parse(Source.ACQUIRER, f"{HEADER}\n{line}\n").lines[0].amount_minor == amount
    # A 16-digit one is out of range anyway, and refused without being echoed.
    line = f"2026-12-04,capture,{PAY},,,r,USD,{PAN},0,{PAN}"
    with pytest.raises(MalformedStatement, match=r"^line 2: gross_minor is out of range$"):
        parse(Source.ACQUIRER, f"{HEADER}\n{line}\n")


def test_a_bad_currency_names_its_line_and_column_but_never_echoes_the_cell() -> None:
    line = f"2026-12-04,capture,{PAY},,,r,US-D 12,100,0,100"
    with pytest.raises(MalformedStatement) as refused:
        parse(Source.ACQUIRER, f"{HEADER}\n{line}\n")
    assert refused.value.detail == "line 2: currency must be an ISO 4217 currency code"
    assert refused.value.field == "currency"
