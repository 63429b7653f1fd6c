"""Running paysource: `serve` (the API and its worker), `worker`, `migrate`.

Without PAYSOURCE_DATABASE_URL / PAYSOURCE_REDIS_URL, `serve` starts local servers
under `.local/` (and writes their URLs to `.local/services.json`, so other commands
in another terminal find them); the other commands use those, or start their own.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from devtools.localservices import LocalPostgres, LocalRedis, port_accepts
from paysource.config import DEVELOPMENT_ADMIN_KEY, Settings

if TYPE_CHECKING:
    from paysource.bootstrap import Container


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


def apply_migrations(settings: Settings, *, out: TextIO = sys.stderr) -> None:
    from paysource.adapters.postgres.migrations import migrate  # noqa: PLC0415  # keep `--help` fast

    assert settings.database_url
    applied = migrate(settings.database_url, settings.migrations_dir)
    names = f" ({', '.join(applied)})" if applied else ""
    print(f"migrations: {len(applied)} applied{names}", file=out)


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> None:
    with resolved(settings) as ready:
        apply_migrations(ready, out=sys.stdout)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn  # noqa: PLC0415

    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.entrypoints.http.app import create_app  # noqa: PLC0415

    port = args.port or settings.port
    mode = "off" if args.no_worker else (args.worker or settings.serve_worker)
    with resolved(settings, publish=True) as ready:
        apply_migrations(ready)
        container = build_container(ready)
        worker = _serve_worker(mode, ready, container)
        try:
            _banner(ready, port, worker.describe())
            app = create_app(container)
            uvicorn.run(
                app,
                host=ready.host,
                port=port,
                log_config=None,
                access_log=False,
                ws_max_size=ready.max_body_bytes,  # websocket messages obey the body limit
            )
        finally:
            print("\nstopping…", file=sys.stderr)
            worker.stop()
            container.close()


@dataclasses.dataclass
class _ServedWorker:
    """The worker that `serve` runs beside the API, whichever way it runs."""

    mode: str
    stop: Callable[[], None] = lambda: None
    pid: Callable[[], int | None] = lambda: None

    def describe(self) -> str:
        return f"process {self.pid()}" if self.mode == "process" else self.mode


def _serve_worker(mode: str, ready: Settings, container: Container) -> _ServedWorker:
    if mode == "thread":
        from paysource.entrypoints.worker import Worker  # noqa: PLC0415

        in_process = Worker(container)
        in_process.start()
        return _ServedWorker(mode, stop=in_process.stop)
    if mode == "process":
        from paysource.entrypoints.supervise import WorkerProcess  # noqa: PLC0415

        assert ready.database_url
        assert ready.redis_url
        # The child uses the servers this process resolved (perhaps started) itself.
        child = WorkerProcess(
            {
                **os.environ,
                "PAYSOURCE_DATABASE_URL": ready.database_url,
                "PAYSOURCE_REDIS_URL": ready.redis_url,
            }
        )
        child.start()
        return _ServedWorker(mode, stop=child.stop, pid=lambda: child.pid)
    return _ServedWorker("off")


def _banner(settings: Settings, port: int, worker: str) -> None:
    base = f"http://{settings.host}:{port}"
    admin = (
        f"the development admin key is {DEVELOPMENT_ADMIN_KEY}"
        if settings.admin_key.get_secret_value() == DEVELOPMENT_ADMIN_KEY
        else "use your PAYSOURCE_ADMIN_KEY"
    )
    print(
        f"\npaysource is serving {base}  (worker: {worker})\n"
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
    from paysource.entrypoints.supervise import stop_on_signals, watch_parent  # noqa: PLC0415
    from paysource.entrypoints.worker import Worker  # noqa: PLC0415

    with resolved(settings) as ready:
        container = build_container(ready)
        worker = Worker(
            container, processor=not args.no_processor, projections=not args.no_projections
        )
        stop = stop_on_signals()
        if args.parent_pid is not None:
            watch_parent(stop, args.parent_pid)
        worker.start()
        print("worker running; Ctrl-C stops it", file=sys.stderr, flush=True)
        stop.wait()
        worker.stop()
        container.close()
