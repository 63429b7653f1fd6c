"""`paysource cells`: the Postgres clusters (cells) merchants are spread over.

Cells are configured, not created by command: the directory cell is
PAYSOURCE_DATABASE_URL, the others PAYSOURCE_CELLS ("cell-1=postgresql://…;…").
`cells add` prepares a new cluster (migrations) and prints the setting to add.
"""

from __future__ import annotations

import click

from paysource.config import Settings, mask_url, parse_cells
from paysource.entrypoints import console
from paysource.entrypoints.cli_params import with_settings
from paysource.entrypoints.serve import check_connections
from paysource.entrypoints.servers import resolved


@click.group()
def cells() -> None:
    """List the cells, check them, prepare a new one."""


@cells.command("list")
@with_settings
def cells_list(settings: Settings) -> None:
    """Each cell, its database (password masked) and how many merchants it holds.

    \b
    Example:
      paysource cells list
    """
    from paysource.bootstrap import build_container  # noqa: PLC0415

    with resolved(settings) as ready:
        check_connections(ready)
        container = build_container(ready)
        try:
            placements = container.router.placements
            counts = placements.counts() if placements is not None else {}
            rows = [
                (cell.name, mask_url(cell.database_url), str(counts.get(cell.name, "all")))
                for cell in container.router.all()
            ]
        finally:
            container.close()
    console.stdout().print(console.table(("cell", "database", "merchants"), rows))


@cells.command("add")
@click.argument("name")
@click.argument("url")
@with_settings
def cells_add(settings: Settings, name: str, url: str) -> None:
    """Apply the migrations to a new cell's database and print the PAYSOURCE_CELLS
    value that includes it (restart the API and workers with it).

    \b
    Example:
      paysource cells add cell-2 postgresql://app:secret@db2:5432/paysource
    """
    from paysource.adapters.postgres.migrations import migrate  # noqa: PLC0415

    existing = settings.extra_cells()
    try:
        parse_cells(f"{name}={url}")
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if name in existing:
        raise click.BadParameter(f"{name} is already a cell")
    applied = migrate(url, settings.migrations_dir)
    click.echo(f"{name}: {len(applied)} migrations applied at {mask_url(url)}")
    entries = [f"{n}={mask_url(u)}" for n, u in {**existing, name: url}.items()]
    click.echo("PAYSOURCE_CELLS=" + ";".join(entries) + "  (passwords masked)")


COMMANDS = (cells,)
