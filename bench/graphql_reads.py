"""GraphQL read throughput: a customer page (profile + 20 transactions) next to a trivial
query, on the same server in the same run.

    ./.venv/bin/python bench/graphql_reads.py [--seconds 15] [--clients 16]

(Not `bench/graphql.py`: run as a script, bench/ comes first on sys.path, and a module
named `graphql` there would shadow graphql-core for every bench script.)

It starts a throwaway Postgres and Redis (or uses PAYSOURCE_DATABASE_URL and
PAYSOURCE_REDIS_URL when both are set), serves the API with GraphQL mounted and an
embedded worker in a child process (uvicorn, one process), seeds a merchant with a
customer who has 30 payments, then runs closed-loop keep-alive clients on each query.
stdout holds `name=value` lines, `ratio` (customer page / trivial, in req/s) last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devtools.localservices import LocalPostgres, LocalRedis, free_port  # noqa: E402
from paysource.adapters.postgres.migrations import migrate  # noqa: E402
from paysource.config import MIGRATIONS_DIR  # noqa: E402

# Test mode, so the server runs production's limits and error masking.
ADMIN_KEY = "bench-admin-key-" + "0123456789abcdef" * 3
TRIVIAL = "{ viewer { role } }"
CUSTOMER_PAGE = (
    "query($id: ID!) { customer(id: $id) { ... on Customer { id name email createdAt"
    " totals { currency paymentCount spent { amountMinor formatted } }"
    " transactions(first: 20) { edges { cursor node { id kind status occurredAt"
    " amount { amountMinor currency formatted } } } pageInfo { hasNextPage endCursor } } } } }"
)


def note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def figure(name: str, value: object) -> None:
    print(f"{name}={value}", flush=True)


# --- the server (child process) -------------------------------------------------------


def serve(port: int) -> None:
    import uvicorn  # noqa: PLC0415

    from paysource.bootstrap import build_container  # noqa: PLC0415
    from paysource.config import Settings  # noqa: PLC0415
    from paysource.entrypoints.http.app import create_app  # noqa: PLC0415
    from paysource.entrypoints.http.graphql import mount_graphql  # noqa: PLC0415
    from paysource.entrypoints.http.rest.routes import tokens  # noqa: PLC0415
    from paysource.entrypoints.worker import Worker  # noqa: PLC0415

    container = build_container(Settings())
    app = create_app(container)
    if not any(getattr(r, "path", None) == "/graphql" for r in app.routes):
        mount_graphql(app, container)
    if not any(getattr(r, "path", None) == "/v1/tokens" for r in app.routes):
        app.include_router(tokens.router)
    worker = Worker(container)
    worker.start()
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    finally:
        worker.stop()
        container.close()


# --- HTTP helpers (parent) --------------------------------------------------------------


def call(base: str, path: str, key: str, body: dict[str, Any], **headers: str) -> Any:
    request = urllib.request.Request(  # our own server on loopback
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def seed(base: str) -> tuple[str, str]:
    key = call(base, "/v1/merchants", ADMIN_KEY, {"name": "Bench"})["api_key"]
    customer = call(base, "/v1/customers", key, {"name": "Ada", "email": "ada@example.com"})["id"]
    for number in range(30):
        body = {
            "amount": 1000 + number,
            "currency": "USD",
            "source": "tok_visa",
            "customer": customer,
        }
        call(base, "/v1/payments", key, body, **{"Idempotency-Key": f"bench-{number}"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = call(base, "/graphql", key, {"query": CUSTOMER_PAGE, "variables": {"id": customer}})
        if "errors" in data:
            raise RuntimeError(f"the customer page failed: {data['errors']}")
        if len(data["data"]["customer"]["transactions"]["edges"]) == 20:
            return key, customer
        time.sleep(0.2)
    raise RuntimeError("the read models did not catch up in 60 s")


# --- load -----------------------------------------------------------------------------------


@dataclass
class Load:
    seconds: float
    ok: int
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def run_load(base: str, key: str, body: dict[str, Any], *, clients: int, seconds: float) -> Load:
    host, port = base.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    latencies: list[float] = []
    errors = [0]

    async def client(deadline: float) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                writer.write(request)
                status, answer = await _answer(reader)
                good = status == "200" and b'"errors"' not in answer
                if good:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors[0] += 1
        finally:
            writer.close()

    async def all_clients() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(client(started + seconds) for _ in range(clients)))
        return time.perf_counter() - started

    elapsed = asyncio.run(all_clients())
    cuts = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else [0.0] * 99
    )
    return Load(elapsed, len(latencies), errors[0], cuts[49] * 1000, cuts[98] * 1000)


async def _answer(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head[9:12].decode(), await reader.readexactly(length)


# --- the run ----------------------------------------------------------------------------------


def start_server(work: Path, db_url: str, redis_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PAYSOURCE_DATABASE_URL": db_url,
        "PAYSOURCE_REDIS_URL": redis_url,
        "PAYSOURCE_ENV": "test",
        "PAYSOURCE_ADMIN_KEY": ADMIN_KEY,
        "PAYSOURCE_LOG_LEVEL": "WARNING",
        "PAYSOURCE_RATE_LIMIT_PER_S": "1000000",
    }
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((work / "serve.log").read_text())
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/healthz", timeout=2):
            return proc, base
        time.sleep(0.2)
    raise RuntimeError("the server did not start in 60 s")


def measure(args: argparse.Namespace, work: Path) -> None:
    with contextlib.ExitStack() as stack:
        db_url, redis_url = (os.environ.get(f"PAYSOURCE_{k}_URL") for k in ("DATABASE", "REDIS"))
        if not (db_url and redis_url):
            pg = LocalPostgres.start(work, ephemeral=True)
            stack.callback(pg.stop)
            redis = stack.enter_context(LocalRedis.start(work))
            db_url, redis_url = pg.url, redis.url
            migrate(db_url, MIGRATIONS_DIR)
        proc, base = start_server(work, db_url, redis_url)
        stack.callback(_stop, proc)
        key, customer = seed(base)
        note(f"seeded; {args.clients} clients, {args.seconds}s per query, 3s warm-up each")
        figure("cores", os.cpu_count())
        figure("clients", args.clients)
        figure("seconds", args.seconds)
        bodies: dict[str, dict[str, Any]] = {
            "trivial": {"query": TRIVIAL},
            "customer_page": {"query": CUSTOMER_PAGE, "variables": {"id": customer}},
        }
        loads = {}
        for name, body in bodies.items():
            run_load(base, key, body, clients=args.clients, seconds=3)  # warm-up
            loads[name] = load = run_load(
                base, key, body, clients=args.clients, seconds=args.seconds
            )
            figure(f"{name}_req_per_s", round(load.per_s, 1))
            figure(f"{name}_p50_ms", round(load.p50_ms, 2))
            figure(f"{name}_p99_ms", round(load.p99_ms, 2))
            figure(f"{name}_errors", load.errors)
        figure("ratio", round(loads["customer_page"].per_s / loads["trivial"].per_s, 3))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    with tempfile.TemporaryDirectory(prefix="paysource-bench-graphql-") as work:
        measure(args, Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
