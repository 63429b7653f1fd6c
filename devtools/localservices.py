"""Local PostgreSQL and Redis servers on loopback, for development and tests.

Developer machines and CI are bare Debian: no database running, often no systemd. `./dev setup`
installs the server binaries; this module runs them as child processes, each on its own port,
so nothing depends on a system-wide cluster or service manager.

CI runs as root, and initdb/postgres refuse to. As root we run them as Debian's `postgres`
system user, and keep their data where that user can reach it (see `_pg_home`).

    with LocalPostgres.start(Path(".local"), ephemeral=True) as pg, LocalRedis.start(...) as r:
        ...  # pg.url, r.url

Failures raise `LocalServiceError`, which is deliberately not a `PaysourceError`: it is a
developer's setup problem, never something the API reports to a merchant.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from devtools.binaries import find_pg_bin, find_redis_server
from devtools.spawn import (
    LocalServiceError,
    _note,
    _RunAs,
    _spawn,
    _stop_process,
    _tail,
    _tool,
    _wait_ready,
    free_port,
    port_accepts,
)

__all__ = [
    "LocalPostgres",
    "LocalRedis",
    "LocalServiceError",
    "find_pg_bin",
    "free_port",
    "port_accepts",
    "remove_postgres_data",
]

DATABASE = "paysource"
# sun_path holds 107 characters; postgres appends "/.s.PGSQL.NNNNN.lock" (21) to the directory.
MAX_SOCKET_DIR_CHARS = 80
# fsync and friends only protect against power loss, which a test database need not survive.
EPHEMERAL_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def _pg_home(base_dir: Path, run_as: _RunAs) -> Path:
    """Where the data directory and sockets live: base_dir/pg if the server's user can get there.

    As root, a repository under /root (mode 0700) or pytest's /tmp/pytest-of-root is out of
    the postgres user's reach, so we fall back to a directory of our own under /var/tmp.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    if run_as.can_enter(base_dir):
        return base_dir / "pg"
    fallback_root = _fallback_root(base_dir)
    fallback_root.mkdir(mode=0o755, exist_ok=True)
    # /var/tmp is world-writable: refuse a directory someone else planted under our name.
    if fallback_root.stat().st_uid != os.geteuid():
        raise LocalServiceError(f"{fallback_root} belongs to another user; remove it")
    _note(f"postgres cannot enter {base_dir}; keeping its data in {fallback_root}/pg")
    return fallback_root / "pg"


def remove_postgres_data(base_dir: Path) -> None:
    """Delete what a persistent local Postgres kept for `base_dir`, its /var/tmp
    fallback included (tests that start one in a temporary folder call this)."""
    base_dir = base_dir.resolve()
    for path in (base_dir / "pg", _fallback_root(base_dir)):
        shutil.rmtree(path, ignore_errors=True)


def _fallback_root(base_dir: Path) -> Path:
    """Our folder under /var/tmp for a base_dir the postgres user cannot enter."""
    digest = hashlib.sha256(str(base_dir).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"paysource-{digest}"  # noqa: S108 - its owner is checked


def _socket_dir(home: Path, run_as: _RunAs) -> tuple[Path, bool]:
    """A private directory for the server's unix socket; True if it is a temp dir to remove."""
    wanted = home / "sock"
    is_temp = len(str(wanted)) > MAX_SOCKET_DIR_CHARS
    sock_dir = Path(tempfile.mkdtemp(prefix="paysource-pg-")) if is_temp else wanted
    sock_dir.mkdir(mode=0o700, exist_ok=True)
    run_as.chown(sock_dir)
    return sock_dir, is_temp


def _initdb_locale() -> str:
    """C.UTF-8 if this machine has it (it knows Unicode character classes), else plain C."""
    try:
        listed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [_tool("locale"), "-a"], capture_output=True, text=True, check=False
        ).stdout
    except (OSError, LocalServiceError):
        return "C"
    names = {name.lower().replace("-", "") for name in listed.split()}
    return "C.UTF-8" if "c.utf8" in names else "C"


def _clear_stale_pid(data_dir: Path) -> None:
    """Remove postmaster.pid left by a killed run, unless that server is still running."""
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if str(data_dir).encode() in cmdline:
        raise LocalServiceError(
            f"PostgreSQL (pid {pid}) already runs on {data_dir}; stop it: kill -INT {pid}"
        )
    # Postgres itself refuses when the old pid now belongs to an unrelated process.
    pid_file.unlink(missing_ok=True)


@dataclass
class LocalPostgres:
    """A PostgreSQL server we started, with a `paysource` database and trust auth on loopback."""

    port: int
    data_dir: Path
    log_path: Path
    bin_dir: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _remove_on_stop: list[Path] = field(default_factory=list, repr=False)
    _ephemeral: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @classmethod
    def start(cls, base_dir: Path, *, ephemeral: bool, port: int | None = None) -> LocalPostgres:
        """Start a server with its data in base_dir/pg/data (see `_pg_home` for root).

        ephemeral: a fresh, unsynced cluster, removed on stop (for tests); otherwise the
        cluster is created once and reused by later starts.
        """
        bin_dir, run_as = find_pg_bin(), _RunAs.for_postgres()
        base_dir = base_dir.resolve()
        home = _pg_home(base_dir, run_as)
        log_path = base_dir / "pg" / "server.log"
        for directory in {home, log_path.parent}:
            directory.mkdir(parents=True, exist_ok=True)
        log_path.touch()
        run_as.chown(home, log_path)
        server = cls(port or free_port(), home / "data", log_path, bin_dir)
        if ephemeral and home != log_path.parent:
            server._remove_on_stop.append(home.parent)  # the whole /var/tmp fallback
        server._launch(run_as, ephemeral=ephemeral)
        return server

    def _launch(self, run_as: _RunAs, *, ephemeral: bool) -> None:
        self._ephemeral = ephemeral
        sock_dir, sock_is_temp = _socket_dir(self.data_dir.parent, run_as)
        if sock_is_temp:
            self._remove_on_stop.append(sock_dir)
        if ephemeral:
            self._remove_on_stop.append(self.data_dir)
        atexit.register(self.stop)
        try:
            self._prepare_data_dir(run_as, fresh=ephemeral)
            argv = self._server_argv(sock_dir, ephemeral=ephemeral)
            self._proc = _spawn(
                argv,
                self.log_path,
                cwd="/",
                die_with_parent=signal.SIGINT,  # fast shutdown
                **run_as.popen_kwargs(),
            )
            _wait_ready(self._proc, self._accepts_connections, self.log_path, "postgres")
            self._create_database()
        except BaseException:
            self.stop()
            raise

    def _prepare_data_dir(self, run_as: _RunAs, *, fresh: bool) -> None:
        if not fresh and (self.data_dir / "PG_VERSION").is_file():
            _clear_stale_pid(self.data_dir)
            return
        # No PG_VERSION means no cluster, or one whose initdb died half-way: start over.
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(mode=0o700)
        run_as.chown(self.data_dir)
        argv = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres"]
        argv += ["--auth=trust", "-E", "UTF8", f"--locale={_initdb_locale()}"]
        argv += ["--no-sync"] if fresh else []
        initdb = _spawn(argv, self.log_path, cwd="/", **run_as.popen_kwargs())
        if initdb.wait() != 0:
            raise LocalServiceError(f"initdb failed; {self.log_path} ends:\n{_tail(self.log_path)}")

    def _server_argv(self, sock_dir: Path, *, ephemeral: bool) -> list[str]:
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-k", str(sock_dir), "-c", "listen_addresses=127.0.0.1"]
        settings = ("max_connections=200", *(EPHEMERAL_SETTINGS if ephemeral else ()))
        for setting in settings:
            argv += ["-c", setting]
        return argv

    def _accepts_connections(self) -> bool:
        argv = [_tool("pg_isready", self.bin_dir), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        probe = subprocess.run([*argv, "-t", "1"], check=False)  # noqa: S603 - fixed argv
        return probe.returncode == 0

    def _create_database(self) -> None:
        exists = "SELECT 1 FROM pg_database WHERE datname = 'paysource'"
        if self.psql(exists, database="postgres") != "1":
            self.psql("CREATE DATABASE paysource", database="postgres")

    def psql(self, sql: str, *, database: str = DATABASE) -> str:
        """Run SQL (one or more statements) with psql; return its unaligned, tuples-only output."""
        argv = [_tool("psql", self.bin_dir), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        argv += ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]
        done = subprocess.run(  # noqa: S603 - argv built here; SQL goes through stdin
            [*argv, "-f", "-"], input=sql, capture_output=True, text=True, check=False, timeout=120
        )
        if done.returncode != 0:
            raise LocalServiceError(f"psql failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout.strip()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def crash(self) -> None:
        """Stop as `pg_ctl stop -m immediate` does (SIGQUIT): every connection is cut,
        nothing is checkpointed, and the next start runs crash recovery (fault tests)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_process(proc, signal.SIGQUIT)

    def start_again(self) -> None:
        """Start on the same data and port after `crash` (as `pg_ctl start -w`)."""
        assert self._proc is None, "still running"
        run_as = _RunAs.for_postgres()
        sock_dir, _ = _socket_dir(self.data_dir.parent, run_as)
        self._prepare_data_dir(run_as, fresh=False)
        argv = self._server_argv(sock_dir, ephemeral=self._ephemeral)
        self._proc = _spawn(
            argv, self.log_path, cwd="/", die_with_parent=signal.SIGINT, **run_as.popen_kwargs()
        )
        _wait_ready(self._proc, self._accepts_connections, self.log_path, "postgres")

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions), then wait; safe to call twice."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_process(proc, signal.SIGINT)
        for path in self._remove_on_stop:
            shutil.rmtree(path, ignore_errors=True)
        self._remove_on_stop.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class LocalRedis:
    """A Redis server we started on loopback, without persistence."""

    port: int
    work_dir: Path
    log_path: Path
    server: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, base_dir: Path, *, port: int | None = None) -> LocalRedis:
        """Start redis-server with its working directory and log in base_dir/redis."""
        work_dir = base_dir.resolve() / "redis"
        work_dir.mkdir(parents=True, exist_ok=True)
        redis = cls(port or free_port(), work_dir, work_dir / "server.log", find_redis_server())
        redis._launch()
        return redis

    def _launch(self) -> None:
        argv = [str(self.server), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.work_dir)]
        argv += ["--daemonize", "no", "--protected-mode", "yes"]
        atexit.register(self.stop)
        try:
            self._proc = _spawn(
                argv, self.log_path, cwd=self.work_dir, die_with_parent=signal.SIGTERM
            )
            _wait_ready(self._proc, self._answers_ping, self.log_path, "redis-server")
        except BaseException:
            self.stop()
            raise

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Shut down and wait; safe to call twice."""
        self._halt(signal.SIGTERM)

    def kill(self) -> None:
        """Die at once, as in a crash: clients see their connections drop."""
        self._halt(signal.SIGKILL)

    def send_signal(self, sig: signal.Signals) -> None:
        """SIGSTOP / SIGCONT: a server that hangs without closing a connection (fault tests)."""
        assert self._proc is not None, "not running"
        self._proc.send_signal(sig)

    def restart(self) -> None:
        """Stop if running, then start again on the same port, so existing URLs stay valid."""
        self.stop()
        self._launch()

    def _halt(self, sig: signal.Signals) -> None:
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_process(proc, sig)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
