"""MinorUnits: amounts as strings of ASCII digits (or integers), nothing looser.
DateTime: moments with a zone, as REST takes them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paysource.entrypoints.http.graphql.scalars import DATE_TIME, _parse_minor_units
from paysource.entrypoints.http.graphql.scalars import _parse_moment as parse_moment

# Offsets RFC 3339 can write: whole minutes, less than a day.
_OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(st.integers(min_value=-(10**18), max_value=10**19 - 1))
def test_an_integer_and_its_decimal_string_parse_the_same(value: int) -> None:
    assert _parse_minor_units(value) == _parse_minor_units(str(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        "\u0661\u0660\u0660",  # Arabic-Indic 100
        "\uff11\uff10\uff10",  # full-width 100
        "00100",
        "1_000",
        " 100",
        "+100",
        "1e3",
        "10.0",
        "",
        "-",
        "12345678901234567890",
        True,
        1.0,
        None,
    ],
)
def test_anything_else_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="minor units"):
        _parse_minor_units(value)


@given(st.datetimes(timezones=_OFFSETS))
def test_a_moment_with_a_zone_reads_back_as_the_same_instant(moment: datetime) -> None:
    serialize = DATE_TIME.serialize
    assert serialize is not None
    assert parse_moment(serialize(moment)) == moment


@given(st.datetimes())
def test_a_time_without_a_zone_is_refused_never_read_as_utc(naive: datetime) -> None:
    for written in (naive.isoformat(), naive.isoformat(sep=" "), naive.date().isoformat()):
        with pytest.raises(ValueError, match="RFC 3339"):
            parse_moment(written)


@pytest.mark.parametrize("tail", ["\n", " ", "x", "\r\n"])
def test_a_moment_with_anything_after_it_is_refused_in_the_rules_words(tail: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_moment("2026-01-31T12:00:00Z" + tail)
