"""ISO 4217 currencies and their minor-unit exponents.

The table is the one shipped by the maintained `iso4217` distribution (its
`table.xml`, straight from the ISO maintenance agency). We read the data file
through `importlib.metadata` rather than importing that package, so the domain
still imports nothing but the standard library; see docs/decisions.md.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from xml.etree import ElementTree  # parses a file shipped in a package, not input

_DISTRIBUTION = "iso4217"
_TABLE_FILE = "iso4217/table.xml"


@functools.cache
def exponents() -> Mapping[str, int]:
    """Every active ISO 4217 code that has minor units, mapped to its exponent.

    Codes without minor units in the table ("N.A.": gold, SDR, testing codes)
    are left out: money cannot be moved in them.
    """
    table_path = Path(str(metadata.distribution(_DISTRIBUTION).locate_file(_TABLE_FILE)))
    root = ElementTree.fromstring(table_path.read_bytes())  # noqa: S314  # trusted package data
    table: dict[str, int] = {}
    for entry in root.iterfind("CcyTbl/CcyNtry"):
        code = entry.findtext("Ccy")
        minor_units = entry.findtext("CcyMnrUnts")
        if code and minor_units and minor_units.strip().isdigit():
            table[code.strip()] = int(minor_units)
    return table


def exponent(code: str) -> int | None:
    """The number of decimals of `code`, or None when it is not a known currency."""
    return exponents().get(code)
