"""`paysource serve --processes N`: N API processes on one port, stopped together."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

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
