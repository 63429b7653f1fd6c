"""Custom scalars: money amounts that never overflow GraphQL's 32-bit Int, and moments
that always have a zone.

Registered through the schema's `scalar_map` (see schema.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NewType

import strawberry

from paysource.entrypoints.http.graphql.coercion import ValueRefusal
from paysource.entrypoints.times import parse_moment

_MAX_DIGITS = 19  # a Postgres bigint
# ASCII digits, no leading zeros: str.isdigit() and int() also take other scripts' digits.
_INTEGER = re.compile(rf"-?(?:0|[1-9][0-9]{{0,{_MAX_DIGITS - 1}}})")


def _parse_minor_units(value: object) -> int:
    # Strict like REST: an integer, or a string of digits; never a float or a bool. The
    # refusals quote no value (ValueRefusal): they reach the client as they are.
    if isinstance(value, bool):
        raise ValueRefusal("an amount is an integer number of minor units")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ValueRefusal('an amount is an integer number of minor units, e.g. "2500"')


MinorUnits = NewType("MinorUnits", int)

MINOR_UNITS = strawberry.scalar(
    name="MinorUnits",
    description="An integer amount in a currency's minor units (cents for USD), serialised "
    "as a string so it never overflows a 32-bit Int. Inputs accept a string or an integer.",
    serialize=str,
    parse_value=_parse_minor_units,
)


def _parse_moment(value: object) -> datetime:
    # As REST and the CLI take moments (entrypoints/times.py): a time without a zone
    # is refused, never read as UTC. The refusal quotes no value (ValueRefusal).
    try:
        return parse_moment(value)
    except ValueError as error:
        raise ValueRefusal(str(error)) from None


# In place of strawberry's DateTime, which reads a time without a zone (and a date, or
# a week date) as a naive datetime.
DATE_TIME = strawberry.scalar(
    name="DateTime",
    description="A moment, in RFC 3339 with an offset (e.g. 2026-01-31T12:00:00Z); a time "
    "without a zone is refused.",
    serialize=datetime.isoformat,
    parse_value=_parse_moment,
)
