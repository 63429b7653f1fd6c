"""A pg_auto_failover formation on loopback: a monitor, a primary and a secondary.

Debian's `postgresql-15-auto-failover` (`./dev test` installs it) runs each node as a
`pg_autoctl` keeper that starts and watches its Postgres; the monitor assigns roles and
promotes the secondary when the primary fails. Everything lives under one directory,
configuration included (XDG_* point there), on ports chosen free at start. As root the
keepers run as `postgres`, as Postgres requires.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from devtools.binaries import find_pg_bin
from devtools.localservices import _fallback_root
from devtools.spawn import SETUP_HINT, LocalServiceError, _RunAs, _spawn, _tail, free_port

READY_TIMEOUT_S = 90


def find_pg_autoctl() -> Path:
    found = shutil.which("pg_autoctl")
    if not found:
        raise LocalServiceError(f"pg_autoctl not found on PATH; {SETUP_HINT}")
    return Path(found)


@dataclass
class Keeper:
    """One `pg_autoctl … --run` process and its Postgres."""

    name: str
    pgdata: Path
    port: int
    log_path: Path
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)


@dataclass
class LocalFailover:
    root: Path
    monitor: Keeper
    nodes: list[Keeper]
    run_as: _RunAs
    env: dict[str, str]

    @property
    def url(self) -> str:
        """Both nodes; libpq connects to whichever is the primary now."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"postgresql://postgres@{hosts}/paysource?target_session_attrs=read-write"

    @classmethod
    def start(cls, base_dir: Path) -> LocalFailover:
        run_as = _RunAs.for_postgres()
        root = base_dir.resolve() / "failover"
        if not run_as.can_enter(base_dir.resolve()):
            root = _fallback_root(base_dir.resolve()) / "failover"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        run_as.chown(root)
        env = {
            **os.environ,
            "PATH": f"{find_pg_bin()}:{os.environ.get('PATH', '')}",
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_RUNTIME_DIR": str(root / "run"),
            "HOME": str(root),
        }
        monitor = cls._keeper(root, "monitor", ["create", "monitor"], monitor_uri=None)
        uri = f"postgres://autoctl_node@127.0.0.1:{monitor.port}/pg_auto_failover?sslmode=disable"
        nodes = [cls._keeper(root, f"node{i}", ["create", "postgres"], uri) for i in (1, 2)]
        formation = cls(root, monitor, nodes, run_as, env)
        try:
            formation._launch(monitor)
            formation._wait_for("SELECT 1", monitor.port, "pg_auto_failover")
            formation._tune_monitor()
            for node in nodes:
                formation._launch(node)
                formation.wait_until_stable(nodes.index(node) + 1)
            # Hand back a formation whose standby has its base backup, before any load.
            formation.wait_until_replicating()
            formation.psql(formation.primary_port(), "CREATE DATABASE paysource")
        except BaseException:
            formation.stop()
            raise
        return formation

    @staticmethod
    def _keeper(root: Path, name: str, command: list[str], monitor_uri: str | None) -> Keeper:
        port = free_port()
        pgdata = root / name
        argv = [str(find_pg_autoctl()), *command, "--pgdata", str(pgdata)]
        argv += ["--pgport", str(port), "--hostname", "127.0.0.1", "--auth", "trust"]
        argv += ["--listen", "127.0.0.1", "--no-ssl", "--run"]
        if monitor_uri is not None:
            argv += ["--monitor", monitor_uri, "--name", name]
        return Keeper(name, pgdata, port, root / f"{name}.log", argv)

    def _launch(self, keeper: Keeper) -> None:
        keeper.log_path.touch()
        self.run_as.chown(keeper.log_path)
        keeper.proc = _spawn(
            keeper.argv,
            keeper.log_path,
            cwd=str(self.root),
            env=self.env,
            die_with_parent=signal.SIGTERM,
            **self.run_as.popen_kwargs(),
        )

    def _tune_monitor(self) -> None:
        # Notice a dead primary in seconds rather than the default 20 s.
        for setting in (
            "pgautofailover.health_check_period = 1000",
            "pgautofailover.health_check_timeout = 1000",
            "pgautofailover.health_check_max_retries = 1",
            "pgautofailover.health_check_retry_delay = 500",
            "pgautofailover.node_considered_unhealthy_timeout = 3000",
            # How long the monitor waits for a dead primary to demote itself before it
            # promotes the secondary (default 30 s: the whole test budget).
            "pgautofailover.primary_demote_timeout = 3000",
        ):
            self.psql(self.monitor.port, f"ALTER SYSTEM SET {setting}", "pg_auto_failover")
        self.psql(self.monitor.port, "SELECT pg_reload_conf()", "pg_auto_failover")

    def psql(self, port: int, sql: str, database: str = "postgres") -> str:
        argv = [str(find_pg_bin() / "psql"), "-X", "-q", "-A", "-t", "-h", "127.0.0.1"]
        argv += ["-p", str(port), "-U", "postgres", "-d", database, "-c", sql]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)  # noqa: S603
        if done.returncode != 0:
            raise LocalServiceError(f"psql on {port} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def _wait_for(self, sql: str, port: int, database: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                self.psql(port, sql, database)
                return
            except LocalServiceError:
                if time.monotonic() > deadline:
                    raise LocalServiceError(self._logs()) from None
                time.sleep(0.5)

    def states(self) -> dict[str, tuple[str, str]]:
        """Node name → (reported state, assigned state), from the monitor."""
        rows = self.psql(
            self.monitor.port,
            "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node",
            "pg_auto_failover",
        )
        found = {}
        for line in rows.splitlines():
            name, reported, goal = line.split("|")
            found[name] = (reported, goal)
        return found

    def wait_until_stable(self, count: int = 2, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until `count` nodes have reached their goal, one of them the primary."""

        def stable(states: dict[str, tuple[str, str]]) -> bool:
            settled = [s for s in states.values() if s[0] == s[1]]
            primaries = [s for s in settled if s[0] in ("primary", "single", "wait_primary")]
            return len(settled) >= count and len(primaries) == 1 and len(states) >= count

        self._wait_for_states(stable, "formation not stable", timeout_s)

    def _wait_for_states(
        self, ready: Callable[[dict[str, tuple[str, str]]], bool], what: str, timeout_s: float
    ) -> None:
        """Until the monitor's node states are `ready` (an unreachable monitor: not yet)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                states = self.states()
            except LocalServiceError:
                states = {}
            if ready(states):
                return
            # A standby catching up first takes a base backup, which waits for a checkpoint
            # that Postgres spreads over minutes (checkpoint_completion_target times
            # checkpoint_timeout) when the primary is busy: CI saw one outlast 90 s. An
            # immediate CHECKPOINT makes a spread one in progress finish at once.
            if any(goal == "catchingup" for _, goal in states.values()):
                self._hurry_checkpoint()
            if time.monotonic() > deadline:
                raise LocalServiceError(f"{what}: {states}\n{self._logs()}")
            time.sleep(0.5)

    def primary_port(self) -> int:
        states = self.states()
        for node in self.nodes:
            if states.get(node.name, ("", ""))[0] in ("primary", "single", "wait_primary"):
                return node.port
        raise LocalServiceError(f"no primary: {states}")

    def primary(self) -> Keeper:
        port = self.primary_port()
        return next(node for node in self.nodes if node.port == port)

    def wait_until_replicating(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until one node is `primary` and another `secondary`, both at their goal. A
        stable formation may still be at `wait_primary` with its standby catching up, and
        then a switchover fails: "couldn't find the primary node" (a fresh clone's slow pass)."""

        def replicating(states: dict[str, tuple[str, str]]) -> bool:
            settled = sorted(s[0] for s in states.values() if s[0] == s[1])
            return settled == ["primary", "secondary"]

        self._wait_for_states(replicating, "no primary with a secondary", timeout_s)

    def _hurry_checkpoint(self) -> None:
        # Best effort: the primary may be changing hands; the next poll tries again.
        with contextlib.suppress(LocalServiceError, subprocess.TimeoutExpired):
            self.psql(self.primary_port(), "CHECKPOINT")

    def switchover(self) -> None:
        """`pg_autoctl perform switchover`: the primary hands over to the secondary, once
        the secondary is there to take over."""
        self.wait_until_replicating()
        argv = [
            str(find_pg_autoctl()),
            "perform",
            "switchover",
            "--pgdata",
            str(self.monitor.pgdata),
        ]
        done = subprocess.run(  # noqa: S603
            argv,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            **self.run_as.popen_kwargs(),
        )
        if done.returncode != 0:
            raise LocalServiceError(f"switchover failed: {done.stderr[-2000:]}")

    def kill(self, keeper: Keeper) -> None:
        """kill -9 a node: its keeper and its Postgres, as a machine that dies."""
        pid_file = keeper.pgdata / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        if keeper.proc is not None:
            os.killpg(keeper.proc.pid, signal.SIGKILL)
            keeper.proc.wait()
            keeper.proc = None
        if postmaster is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGKILL)

    def _logs(self) -> str:
        return "\n".join(
            f"--- {k.name}\n{_tail(k.log_path, 15)}" for k in [self.monitor, *self.nodes]
        )

    def stop(self) -> None:
        for keeper in [*self.nodes, self.monitor]:
            if keeper.proc is not None and keeper.proc.poll() is None:
                os.killpg(keeper.proc.pid, signal.SIGTERM)
                try:
                    keeper.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(keeper.proc.pid, signal.SIGKILL)
                    keeper.proc.wait()
            keeper.proc = None
        subprocess.run(["pkill", "-9", "-f", f"{self.root}/"], check=False)  # noqa: S603, S607
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
