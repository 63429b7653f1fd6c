"""A streaming hot standby of a `LocalPostgres`, for the tests of hot-standby reads.

`pg_basebackup -R` copies the primary and writes the standby's connection settings;
the standby then streams and replays the primary's WAL on its own port. Replay can be
paused and resumed (`pause_replay`, `resume_replay`), which is how a test makes it lag.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from devtools.localservices import EPHEMERAL_SETTINGS, LocalPostgres, _socket_dir
from devtools.spawn import LocalServiceError, _RunAs, _spawn, _stop_process, _tail, _wait_ready
from devtools.spawn import free_port as _free_port


@dataclass
class LocalReplica:
    """A standby of `primary`, serving reads on `port` (a LocalPostgres for psql/url)."""

    primary: LocalPostgres
    server: LocalPostgres
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.server.url

    @classmethod
    def start(cls, primary: LocalPostgres) -> LocalReplica:
        run_as = _RunAs.for_postgres()
        port = _free_port()
        home = primary.data_dir.parent
        data_dir = home / f"standby-{port}"
        log_path = primary.log_path.with_name(f"standby-{port}.log")
        log_path.touch()
        run_as.chown(log_path)
        shutil.rmtree(data_dir, ignore_errors=True)
        argv = [str(primary.bin_dir / "pg_basebackup"), "-h", "127.0.0.1"]
        argv += ["-p", str(primary.port), "-U", "postgres", "-D", str(data_dir)]
        argv += ["-R", "-X", "stream", "-c", "fast", "--no-sync"]
        copy = _spawn(argv, log_path, cwd="/", **run_as.popen_kwargs())
        if copy.wait() != 0:
            raise LocalServiceError(f"pg_basebackup failed; {log_path} ends:\n{_tail(log_path)}")
        server = LocalPostgres(port, data_dir, log_path, primary.bin_dir)
        replica = cls(primary, server)
        replica._launch(run_as)
        return replica

    def _launch(self, run_as: _RunAs) -> None:
        sock_dir, _ = _socket_dir(self.server.data_dir, run_as)
        argv = [str(self.server.bin_dir / "postgres"), "-D", str(self.server.data_dir)]
        argv += ["-p", str(self.server.port), "-k", str(sock_dir)]
        # max_connections as the primary's (a standby refuses fewer).
        settings = ("listen_addresses=127.0.0.1", "hot_standby=on", "max_connections=200")
        for setting in (*settings, *EPHEMERAL_SETTINGS):
            argv += ["-c", setting]
        proc = _spawn(
            argv,
            self.server.log_path,
            cwd="/",
            die_with_parent=signal.SIGINT,
            **run_as.popen_kwargs(),
        )
        self._proc = proc
        _wait_ready(proc, self.server._accepts_connections, self.server.log_path, "standby")

    def pause_replay(self) -> None:
        self.server.psql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.server.psql("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_process(proc, signal.SIGINT)
        shutil.rmtree(self.server.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
