"""The CLI takes a moment as REST and GraphQL do: RFC 3339 with an offset, nothing looser.

A time without a zone would mean a different cut-off on each machine that runs the
command, so it is a usage error (exit 2, one line), never read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
import pytest
from click.testing import CliRunner

from paysource.entrypoints.cli import cli
from paysource.entrypoints.cli_operations import settle
from paysource.entrypoints.cli_params import moment

SETTLE = ["settle", "--merchant", "mer_x", "--currency", "USD", "--until"]


@pytest.mark.parametrize(
    "written",
    ["2026-11-24T00:00:00", "2026-11-24 00:00", "2026-11-24", "20261124T000000Z", "garbage"],
)
def test_a_cut_off_without_a_zone_or_in_another_form_is_a_usage_error(written: str) -> None:
    result = CliRunner().invoke(cli, [*SETTLE, written])

    assert result.exit_code == 2
    assert (
        "Invalid value for '--until': a moment is written in RFC 3339, "
        "e.g. 2026-01-31T12:00:00Z" in result.output
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("2026-11-24T00:00:00Z", datetime(2026, 11, 24, tzinfo=UTC)),
        ("2026-11-24T09:00:00+09:00", datetime(2026, 11, 24, tzinfo=UTC)),
        ("2026-11-24t00:00:00.5z", datetime(2026, 11, 24, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_a_cut_off_with_an_offset_is_that_moment(written: str, meant: datetime) -> None:
    until = next(p for p in settle.params if p.name == "until")

    assert moment(click.Context(settle), until, written) == meant
