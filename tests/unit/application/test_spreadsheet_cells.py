"""CSV cells a spreadsheet would run as a formula are written as text (OWASP, "CSV
Injection"): a leading single quote, and nothing else changed."""

from __future__ import annotations

import pytest

from paysource.application.spreadsheet import safe_cell, safe_row


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x")'],
)
def test_a_cell_a_spreadsheet_would_read_as_a_formula_starts_with_a_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value", ["sim_9a1b", "pay_3f0c", "", "a=b", "2026-12-04", "-1000", "0.9215"]
)
def test_text_and_plain_numbers_are_left_as_they_are(value: str) -> None:
    assert safe_cell(value) == value


def test_a_row_defuses_its_text_and_keeps_its_numbers_and_blanks() -> None:
    assert safe_row(["=1", -1000, None, "ok"]) == ["'=1", -1000, None, "ok"]
