"""MinorUnits: amounts as strings of ASCII digits (or integers), nothing looser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paysource.entrypoints.http.graphql.scalars import _parse_minor_units


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
