"""The worker as a child process of `paysource serve`.

In one process the worker and the API share one core and one GIL: measured here, the
worker doubled the API's CPU per payment and, under load, the pipeline fell seconds
behind. As a child process it gets the second core. The child is supervised: it is
restarted (with backoff) when it dies, stopped with its parent on Ctrl-C or SIGTERM,
and it exits by itself when its parent disappears (kill -9), so no worker is left
behind. Jobs are leased in Postgres, so a restarted child simply takes them back.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from types import FrameType

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 20.0
MAX_BACKOFF_S = 30.0
# A child that lived this long was healthy: its next failure starts the backoff over.
HEALTHY_AFTER_S = 60.0


class WorkerProcess:
    """Runs `paysource worker --parent-pid <this process>` with the given environment."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._argv = [sys.executable, "-m", "paysource", "worker", "--parent-pid", str(os.getpid())]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._monitor = threading.Thread(target=self._supervise, name="worker-supervisor")

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._child.pid if self._child else None

    def start(self) -> None:
        self._spawn()
        self._monitor.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S: the worker finishes its batch."""
        with self._lock:  # after this, _spawn starts no new child
            self._stopping.set()
            child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not stop in %.0f s: killed", child.pid, STOP_TIMEOUT_S)
                child.kill()
                child.wait()
        if self._monitor.is_alive():
            self._monitor.join()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._child = subprocess.Popen(  # noqa: S603  # our own interpreter and module
                self._argv,
                env=self._env,
                stdin=subprocess.DEVNULL,
                # Its own process group: Ctrl-C reaches the parent only, which stops
                # the child in order (after the API stops taking requests).
                start_new_session=True,
            )
            log.info("worker process %d started", self._child.pid)

    def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            with self._lock:
                child = self._child
            assert child is not None
            started = time.monotonic()
            code = child.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > HEALTHY_AFTER_S:
                backoff = 1.0
            log.error(
                "worker process %d exited with %s; restarting in %.0f s", child.pid, code, backoff
            )
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            self._spawn()


def watch_parent(stop: threading.Event, parent: int, *, interval_s: float = 1.0) -> None:
    """Set `stop` once `parent` is no longer this process's parent (it was killed).

    The pid comes from the parent itself: asked here, it could already be init's, had
    the parent died while this process was starting."""

    def run() -> None:
        while os.getppid() == parent:
            if stop.wait(interval_s):
                return
        log.warning("parent process %d is gone: stopping", parent)
        stop.set()

    threading.Thread(target=run, name="parent-watch", daemon=True).start()


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM: how a worker process is asked to stop."""
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop
