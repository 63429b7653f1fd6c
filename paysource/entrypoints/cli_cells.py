"""`paysource cells`: the Postgres clusters (cells) merchants are spread over.

Cells are configured, not created by command: the directory cell is
PAYSOURCE_DATABASE_URL, the others PAYSOURCE_CELLS ("cell-1=postgresql://…;…").
`cells add` prepares a new cluster (migrations) and prints the setting to add.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import click
import psycopg

from paysource.config import Settings, mask_url, parse_cells
from paysource.entrypoints import console
from paysource.entrypoints.cli_params import with_settings
from paysource.entrypoints.serve import check_connections
from paysource.entrypoints.servers import resolved

if TYPE_CHECKING:
    from paysource.adapters.postgres.probe import Probe


@click.group()
def cells() -> None:
    """List the cells, check their health, prepare a new one, move a merchant."""


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


@cells.command("status")
@with_settings
def cells_status(settings: Settings) -> None:
    """Each cell and its standbys: up or down, primary or standby, the log's length,
    merchants placed, and how far the standbys trail; then their databases (passwords
    masked). Exits 1 when a cell is down.

    \b
    Example:
      paysource cells status
    """
    with resolved(settings) as ready:
        found, down = _statuses(ready)
        counts = _merchant_counts(ready) if "cell-0" not in down else {}
    # Short columns, then the long URLs a line each: the table fits 80 columns, where a
    # database column squeezed every other one to "…".
    table = [
        (s.label, s.state, s.head, "-" if s.standby else str(counts.get(s.cell, "-")), s.lag)
        for s in found
    ]
    headers = ("cell", "state", "log head", "merchants", "replay lag")
    console.stdout().print(console.table(headers, table))
    width = max(len(s.name) for s in found)
    click.echo("\ndatabases:")
    for status in found:
        click.echo(f"  {status.name:<{width}}  {mask_url(status.url)}")
    for status in found:
        if status.error:
            click.echo(f"{status.name} {mask_url(status.url)}: {status.error}", err=True)
    if down:
        raise click.ClickException(f"down: {', '.join(down)}")


@dataclass(frozen=True, slots=True)
class _Status:
    cell: str
    standby: int  # 0: the cell's primary; else the standby's place in its list, from 1
    url: str
    state: str  # primary, standby or DOWN
    head: str
    lag: str
    error: str

    @property
    def label(self) -> str:  # the table's: standbys indented under their cell
        return f"  standby-{self.standby}" if self.standby else self.cell

    @property
    def name(self) -> str:  # alone on a line
        return f"{self.cell} standby-{self.standby}" if self.standby else self.cell


def _statuses(settings: Settings) -> tuple[list[_Status], list[str]]:
    """A status per cell and one per standby after it; and the cells that are down."""
    from paysource.adapters.postgres.probe import lag_bytes, probe  # noqa: PLC0415

    assert settings.database_url
    found, down = [], []
    for name, url in {"cell-0": settings.database_url, **settings.extra_cells()}.items():
        primary = probe(url)
        found.append(_status(name, 0, url, primary, "-"))
        if not primary.up:
            down.append(name)
        for number, standby_url in enumerate(settings.replica_urls_for(name), start=1):
            standby = probe(standby_url)
            lag = _bytes(lag_bytes(primary, standby))
            found.append(_status(name, number, standby_url, standby, lag))
    return found, down


def _status(cell: str, standby: int, url: str, found: Probe, lag: str) -> _Status:
    state = found.role if found.up else "DOWN"
    head = "-" if found.log_head is None else str(found.log_head)
    return _Status(cell, standby, url, state, head, lag, found.error)


def _bytes(count: int | None) -> str:
    if count is None:
        return "?"
    return f"{count} B" if count < 1024 else f"{count / 1024:.0f} KiB"


def _merchant_counts(settings: Settings) -> dict[str, int | str]:
    """Merchants per cell from the directory; every merchant is in cell-0 without cells."""
    from paysource.adapters.postgres.placements import PostgresPlacements  # noqa: PLC0415

    extra = list(settings.extra_cells())
    if not extra:
        return {"cell-0": "all"}
    assert settings.database_url
    return dict(PostgresPlacements(settings.database_url, ["cell-0", *extra]).counts())


@cells.command("move")
@click.argument("merchant")
@click.option("--to", "target", help="The cell to move the merchant to.")
@click.option(
    "--recover",
    is_flag=True,
    help="For a move whose command died before its switch (the merchant's writes get "
    "503): finish it if its copy committed, else undo it.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the source cell's work for the merchant before aborting.",
)
@with_settings
def cells_move(
    settings: Settings, merchant: str, target: str | None, recover: bool, timeout_s: float
) -> None:
    """Move a merchant, with its history, to another cell. Its writes get 503 +
    Retry-After for the few seconds of the move; its reads continue. Aborts (the
    merchant stays, nothing copied) if the source cell's worker does not finish the
    merchant's work in time or the target is unreachable. The worker must be running.
    A merchant cannot move back into a cell it left (refused before anything starts).

    \b
    Examples:
      paysource cells move mer_8Hq3… --to cell-1
      paysource cells move mer_8Hq3… --recover     # after a move was killed
    """
    from paysource.application.ids import Kind, decode  # noqa: PLC0415

    if recover == (target is not None):
        raise click.UsageError("give --to CELL to move, or --recover (not both)")
    merchant_id = decode(Kind.MERCHANT, merchant)
    if recover:
        _recover(settings, merchant_id)
        return
    assert target is not None
    _move(settings, merchant, merchant_id, target, timeout_s)


def _recover(settings: Settings, merchant_id: UUID) -> None:
    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.entrypoints.cell_move import MoveRefused, recover_move  # noqa: PLC0415

    with resolved(settings) as ready:
        container = build_container(ready)
        try:
            click.echo(recover_move(container, merchant_id))
        except MoveRefused as refused:
            raise click.ClickException(f"nothing recovered: {refused}") from None
        finally:
            container.close()


def _move(
    settings: Settings, merchant: str, merchant_id: UUID, target: str, timeout_s: float
) -> None:
    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.entrypoints.cell_move import (  # noqa: PLC0415
        MoveRefused,
        MoveUnfinished,
        move_merchant,
    )

    with resolved(settings) as ready:
        container = build_container(ready)
        try:
            moved = move_merchant(
                container, merchant_id, target, timeout_s=timeout_s, say=click.echo
            )
        except MoveRefused as refused:
            raise click.ClickException(f"move aborted, the merchant stays: {refused}") from None
        except MoveUnfinished as unfinished:
            raise click.ClickException(
                f"move interrupted after its copy: {unfinished}; run"
                f" `paysource cells move {merchant} --recover` to finish it"
            ) from None
        except psycopg.Error as error:
            raise click.ClickException(
                f"move aborted, the merchant stays: a database failed: {error}"
            ) from None
        finally:
            container.close()
    click.echo(f"moved {merchant} from {moved.source} to {moved.target}")


COMMANDS = (cells,)
