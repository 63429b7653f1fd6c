"""Closed-loop load on `POST /v1/payments`: each client sends, waits for the answer, repeats.

wrk (C, one thread) is preferred: on a 2-core machine a Python generator takes CPU from the
API it measures. The asyncio fallback speaks just enough HTTP/1.1 (keep-alive,
Content-Length) to stay cheap; it needs nothing beyond the standard library.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

WRK_SCRIPT = Path(__file__).resolve().parent / "payments.lua"
_LINE = re.compile(r"^(\w+)=(\d+)$", re.MULTILINE)


@dataclass
class Load:
    """What the clients saw: answers by status (or socket error), latencies, elapsed time."""

    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    p50_ms: float = 0.0
    p99_ms: float = 0.0

    @property
    def accepted(self) -> int:
        return self.outcomes["202"]

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> Counter[str]:
        return Counter({k: n for k, n in self.outcomes.items() if k != "202"})


def with_wrk(base: str, api_key: str, body: str, *, clients: int, seconds: int) -> Load:
    argv = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s"]
    argv += ["-s", str(WRK_SCRIPT), base, "--", f"w{secrets.token_hex(6)}", api_key, body]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    values = {name: int(count) for name, count in _LINE.findall(done.stdout)}
    if done.returncode != 0 or "duration_us" not in values:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    outcomes: Counter[str] = Counter()
    for name, count in values.items():
        kind, _, detail = name.partition("_")
        if kind in {"status", "socket"} and count:
            outcomes[detail if kind == "status" else name] += count
    return Load(
        seconds=values["duration_us"] / 1e6,
        outcomes=outcomes,
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
    )


def with_asyncio(base: str, api_key: str, body: str, *, clients: int, seconds: int) -> Load:
    host, port = base.removeprefix("http://").split(":")
    prefix = f"a{secrets.token_hex(6)}"
    head = (
        f"POST /v1/payments HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body.encode())}\r\nIdempotency-Key: {prefix}-"
    )

    def request(number: int) -> bytes:
        return f"{head}{number}\r\n\r\n{body}".encode()

    load, latencies = Load(), list[float]()

    def record(outcome: str, latency_s: float) -> None:
        load.outcomes[outcome] += 1
        latencies.append(latency_s)

    started = time.perf_counter()
    asyncio.run(_clients(host, int(port), clients, started + seconds, request, record))
    load.seconds = time.perf_counter() - started
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        load.p50_ms, load.p99_ms = cuts[49] * 1000, cuts[98] * 1000
    return load


async def _clients(
    host: str,
    port: int,
    clients: int,
    deadline: float,
    request: Callable[[int], bytes],
    record: Callable[[str, float], None],
) -> None:
    numbers = iter(range(1, 1 << 62))

    async def client() -> None:
        while time.perf_counter() < deadline:
            reader, writer = await asyncio.open_connection(host, port)
            sent = time.perf_counter()
            try:
                while sent < deadline:
                    writer.write(request(next(numbers)))
                    status = await _read_answer(reader)
                    record(status, time.perf_counter() - sent)
                    sent = time.perf_counter()
            except (OSError, asyncio.IncompleteReadError):
                record("socket_read", time.perf_counter() - sent)
            finally:
                writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))


async def _read_answer(reader: asyncio.StreamReader) -> str:
    """The status of one answer, its body read past (uvicorn always sends Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return head[9:12].decode()
