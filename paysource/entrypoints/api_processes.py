"""Several API processes behind one port (`paysource serve --processes N`).

uvicorn's own supervisor (`uvicorn.supervisors.Multiprocess`) binds the port once and
spawns N children that share the socket; the kernel hands each connection to one of
them. Each child imports `create_process_app` (uvicorn's `factory=True`) and builds its
own container through `paysource.bootstrap`, so each has its own pools, its own GIL and
its own Redis watch; nothing is inherited from the parent (children are spawned, not
forked). A child that dies is replaced by the supervisor; one that fails before it
serves stops the whole serve, loudly (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors.multiprocess import Multiprocess

from paysource import logs
from paysource.config import Settings
from paysource.entrypoints.runtime import freeze_startup_heap, tune_gc

APP_FACTORY = f"{__name__}:create_process_app"
# Not a setting: how the supervisor tells its children its pid.
SUPERVISOR_PID = "_PAYSOURCE_SUPERVISOR_PID"
log = logging.getLogger(__name__)


def process_count(settings: Settings, asked: int | None) -> int:
    """`--processes`, else PAYSOURCE_PROCESSES, else one per core."""
    return asked or settings.processes or os.cpu_count() or 1


def create_process_app() -> FastAPI:
    """The app of one API process: its settings from the environment the parent set up
    (resolved server URLs included), its own container, closed when it shuts down."""
    from paysource.bootstrap import build_container  # noqa: PLC0415  # in the child only
    from paysource.entrypoints.configuration import load_settings  # noqa: PLC0415
    from paysource.entrypoints.http.app import create_app  # noqa: PLC0415
    from paysource.entrypoints.serve import watch_redis  # noqa: PLC0415

    tune_gc()
    settings = load_settings()
    logs.configure_for(settings)
    _exit_with(int(os.environ[SUPERVISOR_PID]))
    container = build_container(settings)
    unwatch = watch_redis(container)
    app = create_app(container)

    def close() -> None:
        unwatch()
        container.close()

    _close_with(app, close)
    freeze_startup_heap()
    return app


def _exit_with(supervisor: int) -> None:
    """Stop (as SIGTERM would) once the supervisor is gone: killed with SIGKILL, it
    could not stop us, and we would keep its port. Its pid comes from the supervisor
    itself: asked here, it could already be init's."""

    def run() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        log.warning("serve's supervisor %d is gone: stopping", supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=run, name="supervisor-watch", daemon=True).start()


def _close_with(app: FastAPI, close: Callable[[], None]) -> None:
    """Run `close` after the app's own lifespan (GraphQL's pools) has ended."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        try:
            async with inner(app_) as state:
                yield state
        finally:
            close()

    app.router.lifespan_context = lifespan


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, remembering whether a signal (not a failure) stopped it."""

    asked_to_stop = False

    def handle_int(self) -> None:
        self.asked_to_stop = True
        super().handle_int()

    def handle_term(self) -> None:
        self.asked_to_stop = True
        super().handle_term()


def run_processes(ready: Settings, *, port: int, processes: int) -> None:
    """Serve with `processes` children until SIGINT/SIGTERM; exit 1 if a child could
    not start (uvicorn stops them all then, rather than restarting one that would fail
    the same way forever)."""
    assert ready.database_url
    assert ready.redis_url
    # Spawned children read their settings from the environment: give them the
    # servers this process resolved (perhaps started) itself.
    os.environ["PAYSOURCE_DATABASE_URL"] = ready.database_url
    os.environ["PAYSOURCE_REDIS_URL"] = ready.redis_url
    os.environ[SUPERVISOR_PID] = str(os.getpid())
    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=ready.host,
        port=port,
        workers=processes,
        log_config=None,
        access_log=False,
        ws_max_size=ready.max_body_bytes,  # websocket messages obey the body limit
    )
    supervisor = _Supervisor(config, sockets=[config.bind_socket()])
    supervisor.run()
    if not supervisor.asked_to_stop:
        print("an API process failed to start: serve stops (see above)", file=sys.stderr)
        raise SystemExit(1)
