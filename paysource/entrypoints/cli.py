"""The `paysource` command (click, with rich output): serve, worker, migrate, merchants,
projections, report, settle.

Settings come from `PAYSOURCE_*` variables; a database or Redis URL left unset comes
from a running `paysource serve`, else from a local server started under `.local/`.
"""

from __future__ import annotations

import signal
import sys

import click
import psycopg
from eventsourcing.persistence import OperationalError as StoreUnavailable

from devtools.localservices import LocalServiceError
from paysource import __version__
from paysource.config import Settings
from paysource.domain.errors import PaysourceError
from paysource.entrypoints import (
    cli_audit,
    cli_cells,
    cli_customers,
    cli_disputes,
    cli_operations,
    cli_payments,
    cli_rates,
    cli_reconcile,
)
from paysource.entrypoints.cli_params import with_settings
from paysource.entrypoints.configuration import ConfigurationError
from paysource.entrypoints.runtime import tune_gc
from paysource.entrypoints.servers import StartupError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", "-V", prog_name="paysource")
def cli() -> None:
    """paysource: an event-sourced payments core.

    \b
    Examples:
      paysource serve                        # API on http://127.0.0.1:8000 and a worker
      paysource merchants create --name Acme
      paysource projections status
    """


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Default: PAYSOURCE_PORT or 8000.")
@click.option(
    "--worker",
    type=click.Choice(["process", "thread", "off"]),
    help="The worker beside the API: a child process (default: PAYSOURCE_SERVE_WORKER or"
    " process), a thread in the API's process, or none.",
)
@click.option("--no-worker", is_flag=True, help="API only (same as --worker off).")
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    help="API processes behind the one port, each with its own pools (default:"
    " PAYSOURCE_PROCESSES or one per core; --worker thread runs one).",
)
@click.option(
    "--worker-processes",
    type=click.IntRange(1, 16),
    help="With --worker process: worker processes, sharing the jobs (default:"
    " PAYSOURCE_SERVE_WORKER_PROCESSES, or 2; 1 on a one-core machine).",
)
@with_settings
def serve(
    settings: Settings,
    *,
    port: int | None,
    worker: str | None,
    no_worker: bool,
    processes: int | None,
    worker_processes: int | None,
) -> None:
    """Run the API and its workers until Ctrl-C.

    Without PAYSOURCE_DATABASE_URL / PAYSOURCE_REDIS_URL it starts local servers under
    .local/ and applies pending migrations first.

    \b
    Examples:
      paysource serve
      paysource serve --port 8080 --worker thread
      paysource serve --processes 4   # four API processes on one port
      paysource serve --worker-processes 2   # two workers sharing the jobs
      paysource serve --no-worker     # behind a load balancer, with `paysource worker`s
    """
    from paysource.entrypoints.serve import cmd_serve  # noqa: PLC0415  # keep --help fast

    if worker_processes is not None:
        settings = settings.model_copy(update={"serve_worker_processes": worker_processes})
    cmd_serve(settings, port=port, mode="off" if no_worker else worker, processes=processes)


@cli.command()
@click.option("--no-processor", is_flag=True, help="Run no payment pipeline or settlement job.")
@click.option("--no-projections", is_flag=True, help="Keep no read model up to date.")
@click.option("--parent-pid", type=int, help="Stop when this parent process is gone.")
@with_settings
def worker(
    settings: Settings, no_processor: bool, no_projections: bool, parent_pid: int | None
) -> None:
    """Run a worker: the payment pipeline, projections, payouts, webhooks.

    Any number may run: each job is leased, so it runs in exactly one of them.

    \b
    Examples:
      paysource worker
      paysource worker --no-projections
    """
    from paysource.entrypoints.serve import cmd_worker  # noqa: PLC0415

    cmd_worker(
        settings,
        processor=not no_processor,
        projections=not no_projections,
        parent_pid=parent_pid,
    )


@cli.command()
@with_settings
def migrate(settings: Settings) -> None:
    """Apply the pending SQL migrations (shipped inside the package), once each.

    \b
    Examples:
      paysource migrate
      PAYSOURCE_DATABASE_URL=postgresql://app:secret@db:5432/paysource paysource migrate
    """
    from paysource.entrypoints.serve import cmd_migrate  # noqa: PLC0415

    cmd_migrate(settings)


for _command in (
    *cli_operations.COMMANDS,
    *cli_audit.COMMANDS,
    *cli_cells.COMMANDS,
    *cli_reconcile.COMMANDS,
    *cli_disputes.COMMANDS,
    *cli_payments.COMMANDS,
    *cli_rates.COMMANDS,
):
    cli.add_command(_command)
cli.add_command(cli_customers.customers)


# What goes wrong for a reason the user can fix: a message, never a traceback.
KNOWN_ERRORS = (
    click.ClickException,
    ConfigurationError,
    LocalServiceError,
    StartupError,
    psycopg.OperationalError,
    psycopg.errors.UndefinedTable,
    StoreUnavailable,  # eventsourcing's wrap of a connection that could not be had
    PaysourceError,
)


def main(argv: list[str] | None = None) -> int:
    # SIGTERM becomes SystemExit, so local servers we started are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tune_gc()
    try:
        _refuse_undecodable(sys.argv[1:] if argv is None else argv)
        code = cli.main(args=argv, prog_name="paysource", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort as abort:
        if isinstance(abort.__cause__, KeyboardInterrupt):
            return 130  # Ctrl-C (click turns it into Abort)
        # A confirmation refused, or asked with no terminal to answer it (a script).
        _fail("aborted: nothing was done (the command asked to confirm; --yes confirms)")
        return 1
    except KeyboardInterrupt:
        return 130
    except KNOWN_ERRORS as error:
        return _explain(error)
    return int(code or 0)


def _explain(error: Exception) -> int:
    """Print why the command failed; return its exit code (2: usage or configuration)."""
    if isinstance(error, click.ClickException):
        error.show()
        return error.exit_code
    if isinstance(error, ConfigurationError):
        _fail(f"invalid configuration ({len(error.problems)}):", *error.problems)
        return 2
    if isinstance(error, PaysourceError):
        _fail(error.detail)
    elif isinstance(error, psycopg.errors.UndefinedTable):
        # A database paysource never migrated (serve migrates; other commands do not).
        _fail(
            f"database: {str(error).strip().splitlines()[0]}",
            "its tables are missing: run `paysource migrate` first",
        )
    elif isinstance(error, psycopg.OperationalError | StoreUnavailable):
        # A database lost after the start-up check: one line, not a traceback.
        _fail(f"database: {str(error).strip().splitlines()[0]}")
    else:
        _fail(str(error))
    return 1


def _refuse_undecodable(args: list[str]) -> None:
    """A usage error for an argument that is not UTF-8 text: Python keeps its bytes as
    surrogates, which would fail later, deep inside a command, as a traceback."""
    for position, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise click.UsageError(f"argument {position} is not UTF-8 text") from None


def _fail(first: str, *more: str) -> None:
    click.echo(f"paysource: {first}", err=True)
    for line in more:
        click.echo(f"  {line}", err=True)


if __name__ == "__main__":
    raise SystemExit(main())
