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
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TextIO

from pydantic import ValidationError

from paysource import logs
from paysource.config import DEVELOPMENT_ADMIN_KEY, Settings
from paysource.localservices import LocalPostgres, LocalRedis, LocalServiceError, port_accepts

log = logging.getLogger("paysource")


def _services_file(settings: Settings) -> Path:
    return settings.local_dir / "services.json"


def _running_services(settings: Settings) -> dict[str, str] | None:
    """URLs of the local servers a running `paysource serve` started, if any."""
    path = _services_file(settings)
    try:
        urls: dict[str, str] = json.loads(path.read_text())
        alive = all(port_accepts(int(port)) for port in urls.get("ports", "").split(",") if port)
    except (OSError, ValueError):
        return None
    return urls if alive else None


@contextlib.contextmanager
def resolved(settings: Settings, *, publish: bool = False) -> Iterator[Settings]:
    """Settings with database and Redis URLs: configured, already running, or started here."""
    if settings.database_url and settings.redis_url:
        yield settings
        return
    running = None if publish else _running_services(settings)
    if running is not None:
        yield settings.model_copy(update={k: v for k, v in running.items() if k != "ports"})
        return
    with contextlib.ExitStack() as stack:
        update: dict[str, str] = {}
        ports: list[str] = []
        if not settings.database_url:
            print("starting a local PostgreSQL under", settings.local_dir, file=sys.stderr)
            pg = stack.enter_context(LocalPostgres.start(settings.local_dir, ephemeral=False))
            update["database_url"], ports = pg.url, [*ports, str(pg.port)]
        if not settings.redis_url:
            print("starting a local Redis under", settings.local_dir, file=sys.stderr)
            redis = stack.enter_context(LocalRedis.start(settings.local_dir))
            update["redis_url"], ports = redis.url, [*ports, str(redis.port)]
        if publish:
            _services_file(settings).write_text(json.dumps({**update, "ports": ",".join(ports)}))
            stack.callback(_services_file(settings).unlink, missing_ok=True)
        yield settings.model_copy(update=update)


def _migrate(settings: Settings, *, out: TextIO = sys.stderr) -> None:
    from paysource.migrate import migrate  # noqa: PLC0415  # keep `--help` fast

    assert settings.database_url
    applied = migrate(settings.database_url, settings.migrations_dir)
    names = f" ({', '.join(applied)})" if applied else ""
    print(f"migrations: {len(applied)} applied{names}", file=out)


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> None:
    with resolved(settings) as ready:
        _migrate(ready, out=sys.stdout)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn  # noqa: PLC0415

    from paysource.api.app import create_app  # noqa: PLC0415
    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.worker import Worker  # noqa: PLC0415

    port = args.port or settings.port
    with resolved(settings, publish=True) as ready:
        _migrate(ready)
        container = build_container(ready)
        worker = Worker(container) if ready.embedded_worker and not args.no_worker else None
        if worker is not None:
            worker.start()
        try:
            _banner(ready, port, worker is not None)
            app = create_app(container)
            uvicorn.run(app, host=ready.host, port=port, log_config=None, access_log=False)
        finally:
            print("\nstopping…", file=sys.stderr)
            if worker is not None:
                worker.stop()
            container.close()


def _banner(settings: Settings, port: int, with_worker: bool) -> None:
    base = f"http://{settings.host}:{port}"
    admin = (
        f"the development admin key is {DEVELOPMENT_ADMIN_KEY}"
        if settings.admin_key.get_secret_value() == DEVELOPMENT_ADMIN_KEY
        else "use your PAYSOURCE_ADMIN_KEY"
    )
    print(
        f"\npaysource is serving {base}  (worker: {'embedded' if with_worker else 'off'})\n"
        f"  API docs:     {base}/docs\n"
        f"  health:       {base}/readyz\n"
        f"  get a key:    paysource merchants create --name 'Acme'\n"
        f"                or POST {base}/v1/merchants with the admin key;\n"
        f"                {admin}\n"
        f"  stop:         Ctrl-C\n",
        file=sys.stderr,
        flush=True,
    )


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.worker import Worker  # noqa: PLC0415

    with resolved(settings) as ready:
        container = build_container(ready)
        worker = Worker(
            container, processor=not args.no_processor, projections=not args.no_projections
        )
        stop = threading.Event()

        def on_signal(signum: int, _: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        worker.start()
        print("worker running; Ctrl-C stops it", file=sys.stderr, flush=True)
        stop.wait()
        worker.stop()
        container.close()


def cmd_merchants_create(settings: Settings, args: argparse.Namespace) -> None:
    from paysource.application.idempotency import fingerprint  # noqa: PLC0415
    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.domain.fees import FeeSchedule  # noqa: PLC0415
    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    with resolved(settings) as ready:
        _migrate(ready)
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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="paysource", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API and the worker")
    serve.add_argument("--port", type=int, default=None, help="default: PAYSOURCE_PORT or 8000")
    serve.add_argument("--no-worker", action="store_true", help="API only")
    serve.set_defaults(run=cmd_serve)
    worker = commands.add_parser("worker", help="run the worker (processor and projections)")
    worker.add_argument("--no-processor", action="store_true")
    worker.add_argument("--no-projections", action="store_true")
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
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"paysource: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    # SIGTERM becomes SystemExit, so local servers we started are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        args.run(settings, args)
    except LocalServiceError as error:
        print(f"paysource: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
