"""Moments as every entrypoint takes them: RFC 3339 with an offset, nothing looser.

A time without a zone (or a Unix timestamp, or a date alone) would mean a different
moment on each server, client or operator's machine, so it is refused, by REST's query
strings (http/rest/moments.py), GraphQL's DateTime (http/graphql/scalars.py) and the
CLI's options (cli_params.py) alike. It sits beside `http`, not in it: the CLI imports
nothing of HTTP's.
"""

from __future__ import annotations

import re
from datetime import datetime

# Matched whole (`fullmatch`): `$` would also take a trailing newline.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")
REFUSED = "a moment is written in RFC 3339, e.g. 2026-01-31T12:00:00Z"


def parse_moment(value: object) -> datetime:
    """`value`, a string in RFC 3339, as an aware datetime; ValueError otherwise."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(REFUSED)
    return datetime.fromisoformat(value.upper())  # 3.11 reads "Z"
