"""The operator's exchange rates: `paysource rates load FILE.csv` and `rates list`
(format: docs/settlement.md, "Rates")."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from paysource.config import Settings
from paysource.entrypoints.cli_operations import FORMAT, _container
from paysource.entrypoints.cli_params import with_settings


@click.group()
def rates() -> None:
    """Exchange rates for settlements in a merchant's settlement currency, and risk."""


@rates.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_settings
def rates_load(settings: Settings, file: Path) -> None:
    """Load a CSV file of rates (base,quote,rate,valid_from), whole or not at all.

    Loading the same file again changes nothing; a malformed line refuses the file.

    \b
    Example:
      paysource rates load rates-2026-12-01.csv
    """
    from paysource.application.rates import MalformedRates  # noqa: PLC0415

    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRates(1, "the file is not UTF-8 text") from None
    with _container(settings, migrate=True) as container:
        result = container.router.directory.rates.load(text, source=file.name)
    click.echo(f"rates={result.lines} loaded={result.inserted} unchanged={result.unchanged}")


@rates.command("list")
@FORMAT
@with_settings
def rates_list(settings: Settings, output: str) -> None:
    """Every loaded rate, by pair and valid_from.

    \b
    Examples:
      paysource rates list
      paysource rates list --format csv
    """
    from paysource.application.spreadsheet import safe_cell  # noqa: PLC0415

    with _container(settings, migrate=True) as container:
        found = container.router.directory.rates.list()
    rows = [
        {
            "base": r.base,
            "quote": r.quote,
            "rate": str(r.rate),
            "valid_from": r.valid_from.isoformat(),
            "source": r.source,
        }
        for r in found
    ]
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    # `source` is the loaded file's name: safe to open in a spreadsheet, as every export.
    writer.writerows({k: safe_cell(v) for k, v in row.items()} for row in rows)
    click.echo(out.getvalue(), nl=False)


COLUMNS = ("base", "quote", "rate", "valid_from", "source")
COMMANDS = (rates,)
