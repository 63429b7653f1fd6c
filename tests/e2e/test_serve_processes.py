"""`paysource serve --processes N`: N API processes on one port, stopped together."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from devtools.localservices import free_port, port_accepts
from paysource.config import Settings
from tests.conftest import ADMIN_KEY
from tests.e2e.test_cli import alive, children, env_for, eventually

PROCESS_INFO = re.compile(r'^paysource_api_process_info\{pid="(\d+)"\} 1\.0$', re.MULTILINE)


@contextmanager
def serving_processes(settings: Settings, port: int, count: int) -> Iterator[subprocess.Popen[str]]:
    argv = ["serve", "--port", str(port), "--processes", str(count), "--no-worker"]
    process = subprocess.Popen(
        [sys.executable, "-m", "paysource", *argv],
        env=env_for(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert process.stdout is not None
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    try:
        eventually(lambda: process.poll() is None and port_accepts(port), timeout_s=90)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        print("".join(output))


def answering_pid(port: int) -> int | None:
    """The pid of the API process that answered one scrape, on a new connection."""
    try:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
    except httpx.TransportError:
        return None  # not serving yet
    match = PROCESS_INFO.search(answer.text)
    return int(match.group(1)) if answer.status_code == 200 and match else None


def pids_answering(port: int, *, at_least: int, timeout_s: float = 60) -> set[int]:
    """Scrape in parallel bursts until `at_least` processes have answered."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    with ThreadPoolExecutor(8) as pool:
        while len(seen) < at_least:
            assert time.monotonic() < deadline, f"only {seen} answered"
            seen |= {pid for pid in pool.map(answering_pid, [port] * 16) if pid is not None}
    return seen


def listening_sockets(port: int) -> set[int]:
    """The inodes of the sockets listening on `port` (IPv4, /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            found.add(inode)
    return found


def sockets_held(pid: int) -> set[int]:
    """The socket inodes the process holds; none once it has exited (the test kills
    processes, and one can go between listing the children and reading its fds)."""
    inodes: set[int] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:
        return inodes
    for fd in fds:
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def listening_socket_of_each(serve: subprocess.Popen[str], port: int) -> dict[int, int]:
    """Each API process's listening socket; fails unless each holds exactly one."""
    listening = listening_sockets(port)
    held = {pid: sockets_held(pid) & listening for pid in children(serve.pid)}
    held = {pid: inodes for pid, inodes in held.items() if inodes}
    assert all(len(inodes) == 1 for inodes in held.values()), held
    return {pid: inodes.pop() for pid, inodes in held.items()}


def answers_on_connections_opened_at_once(port: int, count: int) -> list[int]:
    """Open `count` connections before sending anything (as a load balancer's pool or a
    load generator does), then scrape once on each: the pid that answered each."""
    request = (
        f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {ADMIN_KEY}\r\nConnection: close\r\n\r\n"
    ).encode()
    with ExitStack() as stack:
        connections = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
            for _ in range(count)
        ]
        for connection in connections:
            connection.sendall(request)
        pids = []
        for connection in connections:
            answer = b"".join(iter(lambda c=connection: c.recv(65536), b"")).decode()
            match = PROCESS_INFO.search(answer)
            assert match, answer[:300]
            pids.append(int(match.group(1)))
    return pids


@pytest.mark.slow
def test_each_process_has_its_own_socket_on_the_port_and_connections_spread_evenly(
    settings: Settings,
) -> None:
    port = free_port()
    with serving_processes(settings, port, 2) as serve:
        pids_answering(port, at_least=2)
        own = listening_socket_of_each(serve, port)
        # One socket per process (SO_REUSEPORT), not one shared: the kernel picks the
        # process per connection, so none can take every waiting connection at once.
        assert len(own) == 2
        assert len(set(own.values())) == 2

        answered = answers_on_connections_opened_at_once(port, 64)
        shares = {pid: answered.count(pid) for pid in own}
        # Hashed over two sockets, fewer than 12 of 64 on one side has a chance of ~1e-7.
        assert sum(shares.values()) == 64
        assert min(shares.values()) >= 12, shares

        # A replacement takes over the dead process's socket: connections the kernel
        # queued there wait for it, and the spread stays even.
        victim = min(own)
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: not alive(victim))
        # Some of these are hashed to the dead process's socket before its replacement
        # serves: they are answered late, not refused or reset.
        assert len(answers_on_connections_opened_at_once(port, 32)) == 32
        after = listening_socket_of_each(serve, port)
        assert victim not in after
        assert set(after.values()) == set(own.values())

        # SIGHUP replaces every process, each new one on its predecessor's socket.
        serve.send_signal(signal.SIGHUP)
        eventually(
            lambda: not set(listening_socket_of_each(serve, port)) & set(after), timeout_s=90
        )
        eventually(lambda: len(listening_socket_of_each(serve, port)) == 2, timeout_s=60)
        assert set(listening_socket_of_each(serve, port).values()) == set(own.values())
        assert len(answers_on_connections_opened_at_once(port, 16)) == 16


@pytest.mark.slow
def test_two_processes_answer_on_one_port_a_dead_one_is_replaced_and_sigterm_stops_all(
    settings: Settings,
) -> None:
    port = free_port()
    with serving_processes(settings, port, 2) as serve:
        first = pids_answering(port, at_least=2)
        assert first <= set(children(serve.pid))
        assert serve.pid not in first

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: not alive(victim))
        again = pids_answering(port, at_least=2)
        assert victim not in again
        assert len(again - first) == 1  # the one that died, replaced by a new process

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
    assert not port_accepts(port)
    assert not any(alive(pid) for pid in first | again)
