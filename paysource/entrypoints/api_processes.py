"""Several API processes behind one port (`paysource serve --processes N`).

uvicorn's own supervisor (`uvicorn.supervisors.Multiprocess`) spawns N children and
keeps them alive; each child serves a socket of its own, all N bound to the one port
with SO_REUSEPORT, so the kernel spreads connections over the children evenly (one
socket shared by all, uvicorn's way, lets the first child to wake take every waiting
connection: bench/README.md). Each child imports `create_process_app` (uvicorn's
`factory=True`) and builds its own container through `paysource.bootstrap`, so each has
its own pools, its own GIL and its own Redis watch; nothing is inherited from the
parent (children are spawned, not forked). A child that dies is replaced on its socket
by the supervisor; one that fails before it serves stops the whole serve, loudly
(docs/operations.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

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
    """uvicorn's supervisor, with a socket of its own for each child (`sockets[i]` serves
    child i and its replacements), remembering whether a signal (not a failure) stopped
    it. The parent keeps every slot's socket open, so connections the kernel queued on a
    child that died wait for its replacement instead of being reset."""

    asked_to_stop = False

    def spawn(self, slot: int) -> Process:
        process = Process(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self.spawn(slot) for slot in range(len(self.sockets))]

    def keep_subprocess_alive(self) -> None:
        # uvicorn's own, but a replacement takes the dead child's slot.
        for slot, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or dead already
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving: the app or the settings are broken and a
                # replacement would fail the same way forever.
                log.error("API process %s failed to start: serve stops", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return  # stopping meanwhile: no replacement
            log.warning("API process %s died: starting another", process.pid)
            self.processes[slot] = self.spawn(slot)

    def restart_all(self) -> None:
        # SIGHUP: each child replaced by a new one on its slot, once the new one serves.
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self.spawn(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                log.error("API process %s was not ready in time: restart abandoned", new.pid)
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def handle_int(self) -> None:
        self.asked_to_stop = True
        super().handle_int()

    def handle_term(self) -> None:
        self.asked_to_stop = True
        super().handle_term()


def bind_slots(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to `port` with SO_REUSEPORT (port 0: one the first gets).
    Where SO_REUSEPORT does not exist (not Linux or a BSD), one socket for all."""
    reuse_port = getattr(socket, "SO_REUSEPORT", None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    slots: list[socket.socket] = []
    for _ in range(count if reuse_port is not None else 1):
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port is not None:
            sock.setsockopt(socket.SOL_SOCKET, reuse_port, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            sock.close()
            for bound in slots:
                bound.close()
            raise SystemExit(f"serve cannot bind {host}:{port}: {error.strerror}") from None
        port = sock.getsockname()[1]
        sock.set_inheritable(True)
        slots.append(sock)
    return slots * (count // len(slots))


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
    supervisor = _Supervisor(config, bind_slots(ready.host, port, processes))
    supervisor.run()
    if not supervisor.asked_to_stop:
        print("an API process failed to start: serve stops (see above)", file=sys.stderr)
        raise SystemExit(1)
