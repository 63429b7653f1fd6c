"""Child processes for the local servers: ports, spawning, readiness and a clean stop.

Shared by `localservices` (PostgreSQL and Redis); kept apart so each file reads as one
concern. Failures raise `LocalServiceError`.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
SETUP_HINT = "run ./dev setup to install it"


class LocalServiceError(RuntimeError):
    """A local server could not be found, started or used."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class _RunAs:
    """Who runs the PostgreSQL processes: ourselves, or `postgres` when we are root."""

    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()

    @classmethod
    def for_postgres(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise LocalServiceError(
                f"running as root needs the 'postgres' system user; {SETUP_HINT}"
            ) from None
        return cls(user.pw_uid, user.pw_gid, tuple(os.getgrouplist(user.pw_name, user.pw_gid)))

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        # Without extra_groups the child would keep root's supplementary groups.
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def chown(self, *paths: Path) -> None:
        if self.uid is not None and self.gid is not None:
            for path in paths:
                os.chown(path, self.uid, self.gid)

    def can_enter(self, directory: Path) -> bool:
        """Whether this user may search `directory` and every directory above it."""
        if self.uid is None:
            return True
        probe = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [_tool("test"), "-x", str(directory)], check=False, **self.popen_kwargs()
        )
        return probe.returncode == 0


def _tool(name: str, bin_dir: Path | None = None) -> str:
    """Absolute path of a helper program, preferring the one beside the server binaries."""
    if bin_dir is not None and (bin_dir / name).is_file():
        return str(bin_dir / name)
    found = shutil.which(name)
    if found is None:
        raise LocalServiceError(f"{name} not found; {SETUP_HINT}")
    return found


def _note(message: str) -> None:
    print(f"localservices: {message}", file=sys.stderr)


def _tail(log_path: Path, lines: int = 25) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError as error:
        return f"(no log at {log_path}: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], log_path: Path, what: str
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if proc.poll() is not None:
            raise LocalServiceError(
                f"{what} exited with status {proc.returncode}; {log_path} ends:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise LocalServiceError(
                f"{what} not ready after {START_TIMEOUT_S:.0f}s; {log_path} ends:\n"
                f"{_tail(log_path)}"
            )
        time.sleep(0.05)


def _stop_process(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _spawn(
    argv: list[str],
    log_path: Path,
    *,
    die_with_parent: signal.Signals | None = None,
    **kwargs: Any,
) -> subprocess.Popen[bytes]:
    """Start a server in the foreground, its output appended to `log_path`.

    A new session keeps the terminal's Ctrl-C away from it, so we can shut it down cleanly.
    The child keeps its own copy of the log descriptor, so any user may run it.
    With `die_with_parent`, the server gets that signal when the thread that started it
    dies, even by kill -9, instead of running on orphaned (Linux; elsewhere ignored).
    """
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - argv built here from found binaries
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_parent_death_signal(die_with_parent) if die_with_parent else None,  # noqa: PLW1509
            **kwargs,
        )


_PR_SET_PDEATHSIG = 1


def _parent_death_signal(sig: signal.Signals) -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_it() -> None:
        # Runs in the child after its user switch (which would clear the setting).
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return set_it
