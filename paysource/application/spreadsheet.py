"""CSV cells safe to open in a spreadsheet (OWASP, "CSV Injection").

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (a tab or
a carriage return first can lead to the same): a reference from a rail's file, or a file
name, could then fetch a URL or run a command on the reader's machine. Such a text cell
is written with a single quote before it, which spreadsheets show as text; the rest of
the cell is kept, so the value can still be read back. Every CSV we export goes through
here (the reports, the reconciliation report, the rates list).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number is no formula, and a negative amount keeps its sign.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def safe_cell(value: Any) -> Any:
    """`value`, with a quote before it if it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]
