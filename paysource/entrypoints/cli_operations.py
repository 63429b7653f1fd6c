"""The operator's commands: merchants, projections, reports, settlements.

Each runs against the servers `servers.resolved` picks, with one container for its length.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

import click

from paysource.config import Settings
from paysource.entrypoints import console
from paysource.entrypoints.cli_params import currency as check_currency
from paysource.entrypoints.cli_params import day, moment, parse_fixed_fees, with_settings
from paysource.entrypoints.serve import apply_migrations, check_connections
from paysource.entrypoints.servers import resolved
from paysource.readmodels.catalog import PROJECTIONS

if TYPE_CHECKING:
    from paysource.bootstrap import Cell, Container
    from paysource.readmodels.maintenance import Difference
    from paysource.readmodels.rebuilding import RebuildReport


@contextlib.contextmanager
def _container(settings: Settings, *, migrate: bool = False) -> Iterator[Container]:
    from paysource.bootstrap import build_container  # noqa: PLC0415

    with resolved(settings) as ready:
        check_connections(ready)
        if migrate:
            apply_migrations(ready)
        container = build_container(ready)
        try:
            yield container
        finally:
            container.close()


class _Owned(Protocol):
    @property
    def merchant_id(self) -> UUID: ...


def _write_cell(
    container: Container, load: Callable[[Cell], _Owned], *, missing: str = "no such object"
) -> Cell:
    """The cell where a command on an object runs: its merchant's, as the API routes
    writes (`router.for_write`: MerchantMoving while the merchant is being moved).

    `load` finds the object (NotFound if absent) in any cell only to learn its
    merchant: a moved merchant's events stay in its old cell as history, and a command
    run there would act where nobody reads."""
    from paysource.application.errors import NotFound  # noqa: PLC0415

    for cell in container.router.all():
        try:
            found = load(cell)
        except NotFound:
            continue
        return container.router.for_write(found.merchant_id)
    raise NotFound(missing)


@click.group()
def merchants() -> None:
    """Manage merchants."""


@merchants.command("create")
@click.option("--name", required=True, help="The merchant's name.")
@click.option("--email", help="Where the merchant is reached.")
@click.option(
    "--currency",
    callback=check_currency,
    metavar="CODE",
    default="USD",
    show_default=True,
    help="Settlement currency.",
)
@click.option("--fee-basis-points", type=int, default=290, show_default=True)
@click.option(
    "--fee-fixed-minor",
    type=int,
    default=None,
    help="The fixed fee in the settlement currency (default: the platform's).",
)
@click.option(
    "--fee-fixed",
    "fee_fixed",
    multiple=True,
    callback=parse_fixed_fees,
    metavar="CODE=MINOR",
    help="The merchant's own fixed fee in a currency's minor units (repeatable): JPY=40.",
)
@with_settings
def merchants_create(
    settings: Settings,
    *,
    name: str,
    email: str | None,
    currency: str,
    fee_basis_points: int,
    fee_fixed_minor: int | None,
    fee_fixed: dict[str, int],
) -> None:
    """Register a merchant; print its id and its API key (shown only once).

    \b
    Examples:
      paysource merchants create --name Acme
      paysource merchants create --name Acme --email ops@acme.test --currency EUR
      paysource merchants create --name Acme --fee-fixed USD=30 --fee-fixed JPY=40
    """
    from paysource.application.idempotency import fingerprint  # noqa: PLC0415
    from paysource.application.merchants import fee_schedule  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    with _container(settings, migrate=True) as container:
        outcome, api_key = container.merchants.register_merchant(
            name=name,
            email=email,
            settlement_currency=currency,
            fees=fee_schedule(
                basis_points=fee_basis_points,
                settlement_currency=currency,
                fixed_minor=fee_fixed_minor,
                fixed=fee_fixed,
            ),
            idempotency_key=None,
            request_hash=fingerprint("CLI", "merchants create", {"name": name}),
            meta=Meta(ActorKind.ADMIN, "cli"),
        )
    click.echo(f"merchant_id=mer_{outcome.value.id.hex}")
    click.echo(f"api_key={api_key}")


@merchants.command("set-fees")
@click.option("--merchant", "merchant", required=True, metavar="mer_…")
@click.option("--fee-basis-points", type=int, default=290, show_default=True)
@click.option(
    "--fee-fixed",
    "fee_fixed",
    multiple=True,
    callback=parse_fixed_fees,
    metavar="CODE=MINOR",
    help="The merchant's own fixed fee in a currency (repeatable); others: the default.",
)
@with_settings
def merchants_set_fees(
    settings: Settings, *, merchant: str, fee_basis_points: int, fee_fixed: dict[str, int]
) -> None:
    """Replace a merchant's fee schedule; captures already made keep their fee.

    \b
    Example:
      paysource merchants set-fees --merchant mer_… --fee-basis-points 250 --fee-fixed JPY=40
    """
    from paysource.application.ids import Kind, decode  # noqa: PLC0415
    from paysource.domain.fees import FeeSchedule  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    with _container(settings, migrate=True) as container:
        found = container.merchants.change_fees(
            merchant_id=decode(Kind.MERCHANT, merchant),
            fees=FeeSchedule(fee_basis_points, fee_fixed),
            meta=Meta(ActorKind.ADMIN, "cli"),
        )
    fixed = " ".join(f"{c}={m}" for c, m in found.fees.fixed_overrides.items())
    click.echo(f"fee_basis_points={found.fees.basis_points} fee_fixed={fixed or '-'}")


@click.group()
def projections() -> None:
    """Operate the read models: status, rebuild, verify."""


@projections.command("status")
@with_settings
def projections_status(settings: Settings) -> None:
    """Each read model's position, the log's head, and the lag between them.

    \b
    Example:
      paysource projections status
    """
    from paysource.readmodels.maintenance import status  # noqa: PLC0415

    with _container(settings) as container:
        rows = [
            (cell.name, s.name, s.position, s.head, s.lag_events, f"{s.lag_seconds:.1f}")
            for cell in container.router.all()
            for s in status(cell.store, cell.read.datastore)
        ]
    columns = ("cell", "projection", "position", "head", "lag", "lag_s")
    console.stdout().print(console.table(columns, rows))


def _names(name: str | None, every: bool) -> list[str]:
    if every == (name is not None):
        raise click.UsageError("name one read model, or give --all")
    return sorted(PROJECTIONS) if every else [name or ""]


NAME = click.argument(
    "name", required=False, metavar="[NAME]", type=click.Choice(sorted(PROJECTIONS))
)
ALL = click.option(
    "--all", "every", is_flag=True, help="Every read model (rebuild: in one read of the log)."
)
BATCH = click.option("--batch-size", type=click.IntRange(1), default=5000, show_default=True)


PROCESSES = click.option(
    "--processes",
    type=click.IntRange(1),
    default=None,
    help="With --all: processes sharing out the read models (default: the machine's cores).",
)


@projections.command("rebuild")
@NAME
@ALL
@BATCH
@PROCESSES
@with_settings
def projections_rebuild(
    settings: Settings, name: str | None, every: bool, batch_size: int, processes: int | None
) -> None:
    """Replay a read model from the first event (the live one keeps serving meanwhile).

    With --all the read models are shared out among processes, one per core by
    default; each process reads the log once for its share. Each read model is swapped
    in by renaming its rebuilt tables, which holds its live projection for milliseconds.

    \b
    Examples:
      paysource projections rebuild ledger
      paysource projections rebuild --all --batch-size 10000
      paysource projections rebuild --all --processes 1
    """
    names = _names(name, every)  # before any server is started or reached
    count = processes or os.cpu_count() or 1
    with _container(settings) as container:
        for cell in container.router.all():
            label = f"{cell.name} {'all' if every else names[0]}"
            with console.progress(label) as show:
                reports = _rebuild(
                    container, cell, names, processes=count, batch_size=batch_size, show=show
                )
            for report in reports:
                click.echo(
                    f"{cell.name} {report.name}: rebuilt from {report.events} events in"
                    f" {report.seconds:.1f}s ({report.events_per_second:,.0f} events/s),"
                    f" position {report.position}, live projection held"
                    f" {1000 * report.hold_seconds:.0f} ms"
                )


def _rebuild(
    container: Container,
    cell: Cell,
    names: list[str],
    *,
    processes: int,
    batch_size: int,
    show: console.Show,
) -> list[RebuildReport]:
    """In this process for one read model or one process, else in `processes` of them."""
    from paysource.entrypoints.rebuild_processes import rebuild_in_processes  # noqa: PLC0415
    from paysource.readmodels.rebuilding import rebuild_all  # noqa: PLC0415

    if processes == 1 or len(names) == 1:
        return rebuild_all(
            names, cell.store, cell.read.datastore, batch_size=batch_size, progress=show
        )
    return rebuild_in_processes(
        container.settings,
        cell.name,
        names,
        processes=processes,
        batch_size=batch_size,
        progress=show,
    )


@projections.command("verify")
@NAME
@ALL
@BATCH
@with_settings
def projections_verify(settings: Settings, name: str | None, every: bool, batch_size: int) -> int:
    """Compare a read model with a full replay; exit 1 when they differ.

    \b
    Examples:
      paysource projections verify ledger
      paysource projections verify --all
    """
    from paysource.readmodels.maintenance import verify  # noqa: PLC0415

    differences, names = 0, _names(name, every)
    with _container(settings) as container:
        for cell in container.router.all():
            for each in names:
                with console.progress(f"{cell.name} {each}") as show:
                    found = verify(
                        each, cell.store, cell.read.datastore, batch_size=batch_size, progress=show
                    )
                differences += _print_differences(f"{cell.name} {each}", found)
    return 1 if differences else 0


def _print_differences(label: str, found: list[Difference]) -> int:
    for difference in found:
        click.echo(
            f"{label}.{difference.table}: {difference.only_live} rows only"
            f" in the live view, {difference.only_rebuilt} only in a replay"
        )
        for example in difference.examples:
            click.echo(f"    {example}")
    if not found:
        click.echo(f"{label}: identical to a full replay")
    return len(found)


@click.group()
def report() -> None:
    """Finance reports, the same as the API's."""


def _report_merchant(value: str | None) -> UUID | None:
    from paysource.application.ids import Kind, decode  # noqa: PLC0415

    return decode(Kind.MERCHANT, value) if value else None


FROM = click.option(
    "--from",
    "since",
    callback=day,
    metavar="YYYY-MM-DD",
    required=True,
    help="First day, YYYY-MM-DD.",
)
TO = click.option(
    "--to", "until", callback=day, metavar="YYYY-MM-DD", required=True, help="Last day, YYYY-MM-DD."
)
FORMAT = click.option(
    "--format", "output", type=click.Choice(["json", "csv"]), default="json", show_default=True
)


@report.command("daily-volume")
@click.option(
    "--currency", callback=check_currency, metavar="CODE", help="e.g. USD; default: every currency."
)
@click.option("--merchant", help="mer_…; default: all merchants.")
@FROM
@TO
@FORMAT
@with_settings
def report_daily_volume(
    settings: Settings,
    *,
    currency: str | None,
    merchant: str | None,
    since: date,
    until: date,
    output: str,
) -> None:
    """Captures, refunds, fees and net, per day and currency.

    \b
    Examples:
      paysource report daily-volume --from 2026-11-01 --to 2026-11-30
      paysource report daily-volume --from 2026-11-24 --to 2026-11-24 --currency EUR --format csv
    """
    from paysource.entrypoints import reports as rep  # noqa: PLC0415
    from paysource.readmodels import reports  # noqa: PLC0415

    merchant_id = _report_merchant(merchant)
    with _container(settings) as container:
        if merchant_id is not None:
            container.merchants.get_merchant(merchant_id)  # NotFound, as the API says
        finance = [cell.read.finance for cell in container.router.all()]
        rows = [
            rep.daily_volume_row(row)
            for row in reports.daily_volume(
                finance, merchant_id=merchant_id, since=since, until=until, currency=currency
            )
        ]
    if output == "csv":
        columns = rep.DAILY_VOLUME_COLUMNS
        click.echo(reports.to_csv(columns, [[row[c] for c in columns] for row in rows]), nl=False)
    else:
        click.echo(json.dumps({"object": "list", "data": rows, "has_more": False}, indent=2))


@report.command("statement")
@click.option("--merchant", required=True, help="mer_…")
@FROM
@TO
@FORMAT
@with_settings
def report_statement(
    settings: Settings, merchant: str, since: date, until: date, output: str
) -> None:
    """A merchant's statement: opening balance, every entry, closing balance.

    \b
    Example:
      paysource report statement --merchant mer_… --from 2026-11-01 --to 2026-11-30 --format csv
    """
    from paysource.entrypoints import reports as rep  # noqa: PLC0415
    from paysource.readmodels import reports  # noqa: PLC0415

    merchant_id = _report_merchant(merchant)
    assert merchant_id is not None  # --merchant is required
    with _container(settings) as container:
        container.merchants.get_merchant(merchant_id)  # NotFound, as the API says
        ledger = container.router.for_merchant(merchant_id).read.ledger
        body = rep.statement(
            reports.statement(ledger, merchant_id=merchant_id, since=since, until=until)
        )
    if output == "csv":
        click.echo(reports.to_csv(rep.STATEMENT_COLUMNS, rep.statement_rows(body)), nl=False)
    else:
        click.echo(json.dumps(body, indent=2))


@click.command()
@click.option("--merchant", required=True, help="mer_…")
@click.option("--currency", callback=check_currency, metavar="CODE", required=True, help="e.g. USD")
@click.option(
    "--until",
    callback=moment,
    metavar="DATETIME",
    required=True,
    help="Cut-off, RFC 3339 with an offset, e.g. 2026-11-24T00:00:00Z.",
)
@with_settings
def settle(settings: Settings, merchant: str, currency: str, until: datetime) -> None:
    """Close a settlement now, up to a cut-off; the worker then pays it out.

    \b
    Example:
      paysource settle --merchant mer_… --currency USD --until 2026-11-24T00:00:00Z
    """
    from paysource.application import representations as rep  # noqa: PLC0415
    from paysource.application.settlements import check_cutoff  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    merchant_id = _report_merchant(merchant)
    assert merchant_id is not None  # --merchant is required
    with _container(settings) as container:
        container.merchants.get_merchant(merchant_id)
        outcome = container.router.for_write(merchant_id).settlements.close(
            merchant_id=merchant_id,
            currency=currency,
            until=check_cutoff(until, container.clock.now()),
            meta=Meta(ActorKind.ADMIN, "cli"),
        )
    if outcome.replayed:
        click.echo("a settlement for this cut-off exists already:", err=True)
    click.echo(json.dumps(rep.settlement(outcome.value), indent=2))


@click.command()
@with_settings
def jobs(settings: Settings) -> None:
    """Every worker job: which host and process holds it, and how far behind it is.

    Workers share the jobs evenly; a job held by "-" waits for a worker to take it.

    \b
    Example:
      paysource jobs
    """
    from paysource.entrypoints.worker import job_statuses  # noqa: PLC0415

    with _container(settings) as container:
        rows = [
            (
                s.cell,
                s.job.partition("/")[2],
                s.held_by,
                "-" if s.lag_events is None else s.lag_events,
            )
            for s in job_statuses(container)
        ]
    console.stdout().print(console.table(("cell", "job", "held by", "lag"), rows))


COMMANDS = (jobs, merchants, projections, report, settle)
