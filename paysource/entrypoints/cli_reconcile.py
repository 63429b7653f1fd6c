"""Reconciliation's commands: the simulators' files of a day, importing a file, the
breaks report (docs/reconciliation.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import click

from paysource.config import Settings
from paysource.entrypoints.cli_operations import FORMAT, _container
from paysource.entrypoints.cli_params import day, with_settings
from paysource.entrypoints.servers import resolved

DATE = click.option(
    "--date", "on", callback=day, metavar="YYYY-MM-DD", help="The day (UTC); default: today."
)


def _today(on: date | None) -> date:
    return on or datetime.now(UTC).date()


@click.group()
def simulate() -> None:
    """What the simulated rails moved, as the files the real ones send."""


@simulate.command("acquirer-file")
@DATE
@with_settings
def simulate_acquirer_file(settings: Settings, on: date | None) -> None:
    """The acquirer simulator's settlement file of a day (CSV on stdout).

    \b
    Example:
      paysource simulate acquirer-file --date 2026-12-04 > acquirer-2026-12-04.csv
    """
    from paysource.adapters.sim_files import acquirer_file  # noqa: PLC0415

    _print_file(settings, lambda url: acquirer_file(url, _today(on)))


@simulate.command("bank-statement")
@DATE
@with_settings
def simulate_bank_statement(settings: Settings, on: date | None) -> None:
    """The bank simulator's statement of a day: the payouts it credited (CSV on stdout).

    \b
    Example:
      paysource simulate bank-statement --date 2026-12-04 > bank-2026-12-04.csv
    """
    from paysource.adapters.sim_files import bank_statement  # noqa: PLC0415

    _print_file(settings, lambda url: bank_statement(url, _today(on)))


def _print_file(settings: Settings, write: Callable[[str], str]) -> None:
    """Print what `write` makes of the simulators' records in the resolved database."""
    with resolved(settings, redis_needed=False) as ready:
        assert ready.database_url is not None
        click.echo(write(ready.database_url), nl=False)


@click.group()
def reconcile() -> None:
    """Match the acquirer's and the bank's files to the ledger; report the breaks."""


@reconcile.command("import")
@click.argument("source", type=click.Choice(["acquirer", "bank"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--date", "on", callback=day, metavar="YYYY-MM-DD", help="The file's day, if it has no line."
)
@with_settings
def reconcile_import(settings: Settings, source: str, file: Path, on: date | None) -> None:
    """Import a file: matched lines clear, every break is recorded. Importing the same
    file again changes nothing; a malformed file is refused whole.

    \b
    Examples:
      paysource reconcile import acquirer acquirer-2026-12-04.csv
      paysource reconcile import bank bank-2026-12-04.csv
    """
    from paysource.application import reconciliation_shapes as shapes  # noqa: PLC0415
    from paysource.application.statements import MalformedStatement  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415
    from paysource.domain.reconciliation import Source  # noqa: PLC0415

    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedStatement(1, "the file is not UTF-8 text") from None
    with _container(settings) as container:
        result = container.router.directory.reconciliation.import_file(
            source=Source(source), text=text, meta=Meta(ActorKind.ADMIN, "cli"), day=on
        )
    if result.replayed:
        click.echo("this file was imported before: nothing changed", err=True)
    click.echo(json.dumps(shapes.import_result(result), indent=2))


@reconcile.command("report")
@DATE
@click.option(
    "--status", type=click.Choice(["open", "resolved", "all"]), default="open", show_default=True
)
@click.option("--source", type=click.Choice(["acquirer", "bank"]), help="Default: both.")
@FORMAT
@with_settings
def reconcile_report(
    settings: Settings, on: date | None, status: str, source: str | None, output: str
) -> None:
    """The breaks (every day's, or one --date's): missing, extra, amount_differs.

    More than 100,000 breaks are refused, never cut: narrow them (--date, --source).

    \b
    Examples:
      paysource reconcile report
      paysource reconcile report --date 2026-12-04 --format csv
    """
    from paysource.application import reconciliation_shapes as shapes  # noqa: PLC0415
    from paysource.domain.reconciliation import Source  # noqa: PLC0415
    from paysource.readmodels.reports import to_csv  # noqa: PLC0415

    with _container(settings) as container:
        rows = container.router.directory.read.reconciliation.breaks(
            day=on,
            status=None if status == "all" else status,
            source=None if source is None else Source(source),
        )
    shaped = [shapes.break_row(row) for row in rows]
    if output == "csv":
        lines = [shapes.report_line(row) for row in shaped]
        click.echo(to_csv(shapes.REPORT_COLUMNS, lines), nl=False)
    else:
        click.echo(json.dumps({"object": "list", "data": shaped, "has_more": False}, indent=2))


COMMANDS = (simulate, reconcile)
