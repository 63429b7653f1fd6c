"""Running paysource: `serve` (the API and its worker), `worker`, `migrate`.

Which servers each uses is decided in `servers.py`; every check that can fail at start
(port, a serve already running, the database answering) runs before anything starts.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from paysource.config import DEVELOPMENT_ADMIN_KEY, PROJECT_ROOT, Settings, mask_url
from paysource.entrypoints.runtime import freeze_startup_heap
from paysource.entrypoints.servers import (
    check_database,
    check_not_running,
    check_port_free,
    resolved,
    warn_if_redis_is_down,
)

if TYPE_CHECKING:
    from paysource.bootstrap import Container
    from paysource.entrypoints.supervise import WorkerProcess


def apply_migrations(settings: Settings, *, out: TextIO = sys.stderr) -> None:
    from paysource.adapters.postgres.migrations import migrate  # noqa: PLC0415  # keep `--help` fast

    assert settings.database_url
    cells = {"cell-0": settings.database_url, **settings.extra_cells()}
    for cell, url in cells.items():  # every cell has every table: a cell is a whole paysource
        applied = migrate(url, settings.migrations_dir)
        names = f" ({', '.join(applied)})" if applied else ""
        where = f" in {cell}" if len(cells) > 1 else ""
        print(f"migrations: {len(applied)} applied{where}{names}", file=out)
        _fill_event_ids(url, where, out)


def _fill_event_ids(url: str, where: str, out: TextIO) -> None:
    """The feed's rows from before migration 026 get their event ids (backfill.py)."""
    from paysource.readmodels.events.backfill import fill_event_ids  # noqa: PLC0415

    def progress(count: int) -> None:
        print(f"  feed event ids filled{where}: {count:,}", file=out, flush=True)

    filled = fill_event_ids(url, say=progress)
    if filled:
        print(f"feed event ids: {filled:,} filled{where}", file=out)


def cmd_migrate(settings: Settings) -> None:
    with resolved(settings, redis_needed=False) as ready:
        assert ready.database_url
        check_database(ready.database_url)
        apply_migrations(ready, out=sys.stdout)


def check_connections(ready: Settings) -> None:
    """The database must answer; Redis only warns, as the service runs without it."""
    assert ready.database_url
    assert ready.redis_url
    check_database(ready.database_url)
    warn_if_redis_is_down(ready.redis_url)


def cmd_serve(
    settings: Settings, *, port: int | None, mode: str | None, processes: int | None = None
) -> None:
    from paysource.entrypoints.api_processes import process_count  # noqa: PLC0415

    port = port or settings.port
    url = f"http://{settings.host}:{port}"
    count = process_count(settings, processes)
    check_port_free(settings.host, port, settings)
    check_not_running(settings)
    with resolved(settings, publish_as=url) as ready:
        check_connections(ready)
        apply_migrations(ready)
        mode = mode or settings.serve_worker
        if count == 1 or mode == "thread":
            _serve_in_process(ready, port, mode)  # the thread worker needs the API's container
        else:
            _serve_processes(ready, port, mode, count)


def _serve_in_process(ready: Settings, port: int, mode: str) -> None:
    """One API process: the app runs in this process, on this process's container."""
    import uvicorn  # noqa: PLC0415

    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.entrypoints.http.app import create_app  # noqa: PLC0415

    container = build_container(ready)
    worker = _serve_worker(mode, ready, container)
    watch = watch_redis(container)
    try:
        _banner(ready, port, worker.describe())
        app = create_app(container)
        freeze_startup_heap()
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
        watch()
        worker.stop()
        container.close()


def _serve_processes(ready: Settings, port: int, mode: str, count: int) -> None:
    """`count` API processes, each building its own container; this one supervises."""
    from paysource.entrypoints.api_processes import run_processes  # noqa: PLC0415

    worker = _serve_worker(mode, ready, None)
    try:
        _banner(ready, port, f"{worker.describe()}; API processes: {count}")
        run_processes(ready, port=port, processes=count)
    finally:
        print("\nstopping…", file=sys.stderr)
        worker.stop()


@dataclasses.dataclass
class _ServedWorker:
    """The worker that `serve` runs beside the API, whichever way it runs."""

    mode: str
    stop: Callable[[], None] = lambda: None
    pids: Callable[[], list[int]] = list

    def describe(self) -> str:
        if self.mode != "process":
            return self.mode
        pids = self.pids()
        return f"process{'es' if len(pids) > 1 else ''} {', '.join(map(str, pids))}"


def _serve_worker(mode: str, ready: Settings, container: Container | None) -> _ServedWorker:
    if mode == "thread":
        assert container is not None, "a thread worker runs on the API's container"
        from paysource.entrypoints.worker import Worker  # noqa: PLC0415

        in_process = Worker(container)
        in_process.start()
        return _ServedWorker(mode, stop=in_process.stop)
    if mode == "process":
        from paysource.entrypoints.supervise import WorkerProcess  # noqa: PLC0415

        assert ready.database_url
        assert ready.redis_url
        # The children use the servers this process resolved (perhaps started) itself.
        env = {
            **os.environ,
            "PAYSOURCE_DATABASE_URL": ready.database_url,
            "PAYSOURCE_REDIS_URL": ready.redis_url,
        }
        children = [WorkerProcess(env) for _ in range(worker_process_count(ready))]
        for child in children:
            child.start()
        return _ServedWorker(mode, stop=lambda: _stop_all(children), pids=_pids(children))
    return _ServedWorker("off")


def worker_process_count(settings: Settings) -> int:
    """PAYSOURCE_SERVE_WORKER_PROCESSES (`--worker-processes`), else two, or one on a
    one-core machine."""
    return settings.serve_worker_processes or min(2, os.cpu_count() or 1)


def _stop_all(children: list[WorkerProcess]) -> None:
    # Together: each finishes its batch (up to its stop timeout), not one after another.
    stopping = [threading.Thread(target=child.stop) for child in children]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()


def _pids(children: list[WorkerProcess]) -> Callable[[], list[int]]:
    return lambda: [pid for child in children if (pid := child.pid) is not None]


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
        f"  get a key:    {cli_name()} merchants create --name 'Acme'\n"
        f"                or POST {base}/v1/merchants with the admin key;\n"
        f"                {admin}\n"
        f"  stop:         Ctrl-C\n",
        file=sys.stderr,
        flush=True,
    )


def cli_name() -> str:
    """How to call `paysource` from here: on PATH, through ./dev, or by its full path."""
    if shutil.which("paysource"):
        return "paysource"
    dev = PROJECT_ROOT / "dev"
    if dev.is_file():
        return "./dev paysource" if Path.cwd() == PROJECT_ROOT else f"{dev} paysource"
    return str(Path(sys.argv[0]).resolve())


def watch_redis(container: Container) -> Callable[[], None]:
    """Warn while Redis is down (not only once at start); return what stops the watch."""
    from paysource.adapters.redis.watch import RedisWatch  # noqa: PLC0415

    if container.cache is None or container.settings.redis_url is None:
        return lambda: None
    watch = RedisWatch(container.cache, mask_url(container.settings.redis_url))
    watch.start()
    return watch.stop


def cmd_worker(
    settings: Settings, *, processor: bool, projections: bool, parent_pid: int | None
) -> None:
    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.entrypoints.supervise import stop_on_signals, watch_parent  # noqa: PLC0415
    from paysource.entrypoints.worker import Worker  # noqa: PLC0415

    with resolved(settings) as ready:
        check_connections(ready)
        container = build_container(ready)
        worker = Worker(container, processor=processor, projections=projections)
        stop = stop_on_signals()
        if parent_pid is not None:
            watch_parent(stop, parent_pid)
        unwatch = watch_redis(container)
        worker.start()
        print("worker running; Ctrl-C stops it", file=sys.stderr, flush=True)
        stop.wait()
        unwatch()
        worker.stop()
        container.close()
