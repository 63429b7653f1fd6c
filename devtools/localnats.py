"""A NATS JetStream cluster on loopback, for the tests and benches of the event relay.

Each node is a `nats-server` (Debian's package; `./dev test` installs it) with JetStream
on, its own store directory and a cluster route to every other node, all on ports of
127.0.0.1 chosen free at start. A node can be killed and restarted on the same ports
(its store kept), which is what the relay's fault test does.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from devtools.spawn import (
    SETUP_HINT,
    LocalServiceError,
    _spawn,
    _stop_process,
    _wait_ready,
    free_port,
)


def find_nats_server() -> Path:
    """The nats-server binary, from PAYSOURCE_NATS_SERVER or PATH (Debian: /usr/sbin)."""
    found = os.environ.get("PAYSOURCE_NATS_SERVER") or shutil.which(
        "nats-server", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin"
    )
    if not found or not Path(found).is_file():
        raise LocalServiceError(f"nats-server not found on PATH or in /usr/sbin; {SETUP_HINT}")
    return Path(found)


@dataclass
class NatsNode:
    """One nats-server of the cluster."""

    name: str
    client_port: int
    cluster_port: int
    store_dir: Path
    log_path: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    def launch(self, server: Path, cluster: str | None, routes: list[str]) -> None:
        """`cluster` None: a lone server (JetStream refuses a cluster without routes)."""
        argv = [str(server), "--name", self.name, "--addr", "127.0.0.1"]
        argv += ["--port", str(self.client_port), "--jetstream", "--store_dir", str(self.store_dir)]
        if cluster is not None:
            argv += ["--cluster_name", cluster]
            argv += ["--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
        if routes:
            argv += ["--routes", ",".join(routes)]
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._proc = _spawn(argv, self.log_path, die_with_parent=signal.SIGTERM)
        _wait_ready(self._proc, self._accepts, self.log_path, f"nats-server {self.name}")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.client_port), timeout=1) as conn:
                return conn.recv(4).startswith(b"INFO")
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def halt(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_process(proc, sig)


@dataclass
class LocalNatsCluster:
    """`size` JetStream nodes routed to each other on loopback."""

    nodes: list[NatsNode]
    server: Path
    cluster: str = "paysource-test"

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated: what PAYSOURCE_NATS_URL takes."""
        return ",".join(self.urls)

    @classmethod
    def start(cls, base_dir: Path, *, size: int = 3) -> LocalNatsCluster:
        root = base_dir.resolve() / "nats"
        nodes = [
            NatsNode(f"n{i}", free_port(), free_port(), root / f"n{i}", root / f"n{i}.log")
            for i in range(size)
        ]
        root.mkdir(parents=True, exist_ok=True)
        cluster = cls(nodes, find_nats_server())
        atexit.register(cluster.stop)
        try:
            for node in nodes:
                cluster._launch(node)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _launch(self, node: NatsNode) -> None:
        routes = [f"nats://127.0.0.1:{n.cluster_port}" for n in self.nodes if n is not node]
        node.launch(self.server, self.cluster if len(self.nodes) > 1 else None, routes)

    def kill(self, index: int) -> None:
        """kill -9 one node, as a crash: its clients' connections drop."""
        self.nodes[index].halt(signal.SIGKILL)

    def restart(self, index: int) -> None:
        """Start a stopped node again on its ports, with the store it had."""
        self._launch(self.nodes[index])

    def stop(self) -> None:
        atexit.unregister(self.stop)
        for node in self.nodes:
            node.halt(signal.SIGTERM)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
