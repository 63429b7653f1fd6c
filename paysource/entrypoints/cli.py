"""The `paysource` command: serve, worker, migrate, merchants create.

Without PAYSOURCE_DATABASE_URL / PAYSOURCE_REDIS_URL, `serve` starts local servers
under `.local/` (and writes their URLs to `.local/services.json`, so other commands
in another terminal find them); the other commands use those, or start their own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import ValidationError

from devtools.localservices import LocalServiceError
from paysource import logs
from paysource.config import Settings
from paysource.domain.errors import PaysourceError
from paysource.entrypoints.serve import (
    apply_migrations,
    cmd_migrate,
    cmd_serve,
    cmd_worker,
    resolved,
)

if TYPE_CHECKING:
    from paysource.bootstrap import Container

log = logging.getLogger("paysource")


def cmd_merchants_create(settings: Settings, args: argparse.Namespace) -> None:
    from paysource.application.idempotency import fingerprint  # noqa: PLC0415
    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.domain.fees import FeeSchedule  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    with resolved(settings) as ready:
        apply_migrations(ready)
        container = build_container(ready)
        try:
            outcome, api_key = container.merchants.register_merchant(
                name=args.name,
                email=args.email,
                settlement_currency=args.currency.upper(),
                fees=FeeSchedule(args.fee_basis_points, args.fee_fixed_minor),
                idempotency_key=None,
                request_hash=fingerprint("CLI", "merchants create", {"name": args.name}),
                meta=Meta(ActorKind.ADMIN, "cli"),
            )
        finally:
            container.close()
    print(f"merchant_id=mer_{outcome.value.id.hex}")
    print(f"api_key={api_key}")


@contextlib.contextmanager
def _container(settings: Settings) -> Iterator[Container]:
    from paysource.bootstrap import build_container  # noqa: PLC0415

    with resolved(settings) as ready:
        container = build_container(ready)
        try:
            yield container
        finally:
            container.close()


def cmd_projections_status(settings: Settings, _: argparse.Namespace) -> None:
    from paysource.readmodels.maintenance import status  # noqa: PLC0415

    with _container(settings) as container:
        print(f"{'cell':8} {'projection':14} {'position':>10} {'head':>10} {'lag':>8} {'lag_s':>8}")
        for cell in container.router.all():
            for s in status(cell.store, cell.read.datastore):
                print(
                    f"{cell.name:8} {s.name:14} {s.position:>10} {s.head:>10}"
                    f" {s.lag_events:>8} {s.lag_seconds:>8.1f}"
                )


def _progress(label: str) -> Callable[[int, int, float], None]:
    def show(position: int, head: int, rate: float) -> None:
        share = position / head if head else 1.0
        bar = "#" * int(share * 30)
        print(
            f"\r{label} [{bar:<30}] {position}/{head} ({share:.0%}) {rate:,.0f} events/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return show


def cmd_projections_rebuild(settings: Settings, args: argparse.Namespace) -> None:
    from paysource.readmodels.maintenance import rebuild  # noqa: PLC0415

    with _container(settings) as container:
        for cell in container.router.all():
            report = rebuild(
                args.name,
                cell.store,
                cell.read.datastore,
                batch_size=args.batch_size,
                progress=_progress(f"{cell.name} {args.name}"),
            )
            print(
                f"\n{cell.name} {args.name}: rebuilt from {report.events} events in"
                f" {report.seconds:.1f}s ({report.events_per_second:,.0f} events/s),"
                f" position {report.position}"
            )


def cmd_projections_verify(settings: Settings, args: argparse.Namespace) -> int:
    from paysource.readmodels.maintenance import verify  # noqa: PLC0415

    differences = 0
    with _container(settings) as container:
        for cell in container.router.all():
            found = verify(
                args.name,
                cell.store,
                cell.read.datastore,
                batch_size=args.batch_size,
                progress=_progress(f"{cell.name} {args.name}"),
            )
            print(file=sys.stderr)
            for difference in found:
                differences += 1
                print(
                    f"{cell.name} {args.name}.{difference.table}: {difference.only_live} rows only"
                    f" in the live view, {difference.only_rebuilt} only in a replay"
                )
                for example in difference.examples:
                    print(f"    {example}")
            if not found:
                print(f"{cell.name} {args.name}: identical to a full replay")
    return 1 if differences else 0


def _report_merchant(value: str | None) -> UUID | None:
    from paysource.application.ids import Kind, decode  # noqa: PLC0415

    return decode(Kind.MERCHANT, value) if value else None


def cmd_report_daily_volume(settings: Settings, args: argparse.Namespace) -> None:
    from paysource.entrypoints import reports as rep  # noqa: PLC0415
    from paysource.readmodels import reports  # noqa: PLC0415

    merchant_id = _report_merchant(args.merchant)
    with _container(settings) as container:
        if merchant_id is not None:
            container.merchants.get_merchant(merchant_id)  # NotFound, as the API says
        rows = [
            rep.daily_volume_row(row)
            for row in reports.daily_volume(
                [cell.read.finance for cell in container.router.all()],
                merchant_id=merchant_id,
                since=args.since,
                until=args.until,
                currency=args.currency,
            )
        ]
    if args.format == "csv":
        columns = rep.DAILY_VOLUME_COLUMNS
        print(reports.to_csv(columns, [[row[c] for c in columns] for row in rows]), end="")
    else:
        print(json.dumps({"object": "list", "data": rows, "has_more": False}, indent=2))


def cmd_report_statement(settings: Settings, args: argparse.Namespace) -> None:
    from paysource.entrypoints import reports as rep  # noqa: PLC0415
    from paysource.readmodels import reports  # noqa: PLC0415

    merchant_id = _report_merchant(args.merchant)
    assert merchant_id is not None  # argparse requires --merchant
    with _container(settings) as container:
        container.merchants.get_merchant(merchant_id)  # NotFound, as the API says
        cell = container.router.for_merchant(merchant_id)
        body = rep.statement(
            reports.statement(
                cell.read.ledger, merchant_id=merchant_id, since=args.since, until=args.until
            )
        )
    if args.format == "csv":
        print(reports.to_csv(rep.STATEMENT_COLUMNS, rep.statement_rows(body)), end="")
    else:
        print(json.dumps(body, indent=2))


def cmd_settle(settings: Settings, args: argparse.Namespace) -> None:
    from paysource.application import representations as rep  # noqa: PLC0415
    from paysource.application.settlements import check_cutoff  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    merchant_id = _report_merchant(args.merchant)
    assert merchant_id is not None  # argparse requires --merchant
    with _container(settings) as container:
        container.merchants.get_merchant(merchant_id)
        cell = container.router.for_merchant(merchant_id)
        outcome = cell.settlements.close(
            merchant_id=merchant_id,
            currency=args.currency.upper(),
            until=check_cutoff(args.until, container.clock.now()),
            meta=Meta(ActorKind.ADMIN, "cli"),
        )
    if outcome.replayed:
        print("a settlement for this cut-off exists already:", file=sys.stderr)
    print(json.dumps(rep.settlement(outcome.value), indent=2))


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(text: str) -> date:
    from paysource.readmodels.reports import parse_day  # noqa: PLC0415  # keep --help fast

    try:
        return parse_day(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _currency(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", text):
        raise argparse.ArgumentTypeError("a currency is a three-letter ISO 4217 code")
    return text.upper()


def _add_report_commands(commands: Any) -> None:
    report = commands.add_parser("report", help="finance reports (same as the API's)")
    kinds = report.add_subparsers(dest="report", required=True)
    volume = kinds.add_parser("daily-volume", help="captures, refunds, fees, net per day")
    volume.add_argument("--currency", type=_currency, default=None, help="e.g. USD")
    volume.add_argument("--merchant", default=None, help="mer_…; default: all merchants")
    volume.set_defaults(run=cmd_report_daily_volume)
    statement = kinds.add_parser("statement", help="a merchant's statement")
    statement.add_argument("--merchant", required=True, help="mer_…")
    statement.set_defaults(run=cmd_report_statement)
    for sub in (volume, statement):
        sub.add_argument("--from", dest="since", type=_day, required=True, help="YYYY-MM-DD")
        sub.add_argument("--to", dest="until", type=_day, required=True, help="YYYY-MM-DD")
        sub.add_argument("--format", choices=("json", "csv"), default="json")


def _add_projection_commands(commands: Any) -> None:
    from paysource.readmodels.catalog import PROJECTIONS  # noqa: PLC0415

    projections = commands.add_parser("projections", help="operate the read models")
    actions = projections.add_subparsers(dest="action", required=True)
    actions.add_parser("status", help="position, head and lag").set_defaults(
        run=cmd_projections_status
    )
    for action, run, text in (
        ("rebuild", cmd_projections_rebuild, "replay one read model from the first event"),
        ("verify", cmd_projections_verify, "compare a read model with a full replay"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("name", choices=sorted(PROJECTIONS))
        sub.add_argument("--batch-size", type=int, default=5000)
        sub.set_defaults(run=run)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="paysource", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API and the worker")
    serve.add_argument("--port", type=int, default=None, help="default: PAYSOURCE_PORT or 8000")
    serve.add_argument(
        "--worker",
        choices=["process", "thread", "off"],
        default=None,
        help="the worker beside the API: a child process (default: PAYSOURCE_SERVE_WORKER "
        "or process), in the API's process, or none",
    )
    serve.add_argument("--no-worker", action="store_true", help="API only (--worker off)")
    serve.set_defaults(run=cmd_serve)
    worker = commands.add_parser("worker", help="run the worker (processor and projections)")
    worker.add_argument("--no-processor", action="store_true")
    worker.add_argument("--no-projections", action="store_true")
    worker.add_argument(
        "--parent-pid", type=int, default=None, help="stop when this parent process is gone"
    )
    worker.set_defaults(run=cmd_worker)
    commands.add_parser("migrate", help="apply pending SQL migrations").set_defaults(
        run=cmd_migrate
    )
    merchants = commands.add_parser("merchants", help="manage merchants")
    merchant_commands = merchants.add_subparsers(dest="merchants_command", required=True)
    create = merchant_commands.add_parser("create", help="register a merchant, print its key")
    create.add_argument("--name", required=True)
    create.add_argument("--email", default=None)
    create.add_argument("--currency", default="USD", help="settlement currency")
    create.add_argument("--fee-basis-points", type=int, default=290)
    create.add_argument("--fee-fixed-minor", type=int, default=30)
    create.set_defaults(run=cmd_merchants_create)
    _add_projection_commands(commands)
    _add_report_commands(commands)
    settle = commands.add_parser("settle", help="close a settlement now (the worker pays it)")
    settle.add_argument("--merchant", required=True, help="mer_…")
    settle.add_argument("--currency", required=True)
    settle.add_argument("--until", type=_aware, required=True, help="cut-off, ISO 8601 (UTC)")
    settle.set_defaults(run=cmd_settle)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"paysource: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    logs.configure_for(settings)
    # SIGTERM becomes SystemExit, so local servers we started are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        code = args.run(settings, args)
    except LocalServiceError as error:
        print(f"paysource: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except PaysourceError as error:
        print(f"paysource: {error.detail}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
