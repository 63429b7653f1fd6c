"""What the CLI's commands share: settings read at run time, and parameter types whose
errors say what is expected (`--until garbage` → "a moment is written in RFC 3339, …")."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Concatenate, ParamSpec, TypeVar

import click

from paysource import logs
from paysource.config import Settings
from paysource.domain.currency import exponent
from paysource.entrypoints.configuration import load_settings
from paysource.entrypoints.times import parse_moment

P = ParamSpec("P")
R = TypeVar("R")


def with_settings(command: Callable[Concatenate[Settings, P], R]) -> Callable[P, R]:
    """Read the settings when the command runs, not before: `--help` works on a bad config."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        settings = load_settings()
        logs.configure_for(settings)
        return command(settings, *args, **kwargs)

    return run


# Option callbacks rather than ParamType subclasses: ParamType is generic only in recent click.


def moment(_: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """A moment as REST and GraphQL take it (entrypoints/times.py): RFC 3339 with an
    offset. One without a zone is refused, never read as UTC: the operator may have meant
    local time, and the same value sent to either API is refused."""
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from None


def day(_: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """A report day, YYYY-MM-DD (UTC)."""
    from paysource.readmodels.reports import parse_day  # noqa: PLC0415  # keep --help fast

    if value is None:
        return None
    try:
        return parse_day(value)
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from None


def currency(_: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", value) or exponent(value.upper()) is None:
        raise click.BadParameter("a currency is a three-letter ISO 4217 code", param=param)
    return value.upper()


_FIXED_FEE = re.compile(r"^([A-Za-z]{3})=(\d{1,12})$")


def parse_fixed_fees(
    _: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, int]:
    """`--fee-fixed JPY=40 --fee-fixed USD=30` → {"JPY": 40, "USD": 30} (minor units)."""
    fees: dict[str, int] = {}
    for value in values:
        match = _FIXED_FEE.match(value)
        if match is None:
            raise click.BadParameter(
                f"{value!r}: expected CODE=MINOR_UNITS, e.g. JPY=40", param=param
            )
        fees[match.group(1).upper()] = int(match.group(2))
    return fees
