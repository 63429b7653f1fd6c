"""How many payments per second the API accepts, next to what Postgres alone can do.

    ./.venv/bin/python bench/payments.py [--seconds 20] [--clients 32] [--worker process|thread|off]

In one run on one machine it measures
  (a) the Postgres ceiling: pgbench running a payment's database work (one balance UPDATE
      and one insert into a copy of the events table; bench/payment_tx.sql), and
  (b) `POST /v1/payments` through a real `paysource serve`: accepted (202) payments per
      second and p50/p99 latency from concurrent keep-alive clients,
and prints one `name=value` line per figure on stdout, `ratio=(b)/(a)` last; notes go to
stderr. bench/README.md says what each figure means.

It starts a throwaway Postgres and Redis in a temporary directory, unless
PAYSOURCE_DATABASE_URL and PAYSOURCE_REDIS_URL are both set (pgbench then gets a scratch
database, `paysource_bench`, dropped afterwards). Everything it starts is stopped on the
way out, on errors and Ctrl-C too.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cpuuse
import dbceiling
import lagwatch
import loadgen
import pipelinewatch
import psycopg
import speedprobe

from devtools.localservices import LocalPostgres, LocalRedis, free_port
from paysource.adapters.postgres.migrations import migrate
from paysource.config import MIGRATIONS_DIR

REPO = Path(__file__).resolve().parent.parent
ADMIN_KEY = "psk_admin_development_only"
PAYMENT_BODY = json.dumps({"amount": 1000, "currency": "USD", "source": "tok_visa"})
START_TIMEOUT_S = 60.0
# A line of paysource.logs at WARNING or above: "<time> LEVEL   logger: message".
_WARNING = re.compile(r"^\S+ \S+ (?:WARNING|ERROR|CRITICAL)\s+(\S+: .*)$", re.MULTILINE)
# Other processes using more than this many cores during a phase make its figures suspect.
NOISY_CORES = 0.25


def note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def figure(name: str, value: object) -> None:
    print(f"{name}={value}", flush=True)


@dataclass(frozen=True)
class Servers:
    db_url: str
    redis_url: str
    postgres: str  # how it runs: local-fsync-off, local-fsync-on or external
    db_pid: int | None = None  # the postmaster, when we started it: its CPU is measured


# --- services -----------------------------------------------------------------------------


def services(stack: contextlib.ExitStack, work: Path, *, durable: bool) -> Servers:
    """From PAYSOURCE_DATABASE_URL and PAYSOURCE_REDIS_URL if both are set, else started here."""
    db_url, redis_url = (os.environ.get(f"PAYSOURCE_{k}_URL") for k in ("DATABASE", "REDIS"))
    if db_url and redis_url:
        note("using the Postgres and Redis of PAYSOURCE_DATABASE_URL and PAYSOURCE_REDIS_URL")
        return Servers(db_url, redis_url, "external")
    pg = LocalPostgres.start(work, ephemeral=not durable)
    stack.callback(stop_postgres, pg, work)
    redis = stack.enter_context(LocalRedis.start(work))
    fsync = "on (durable commits)" if durable else "off, as in the tests"
    note(f"started Postgres on :{pg.port} with fsync {fsync}, and Redis on :{redis.port}")
    mode = "local-fsync-on" if durable else "local-fsync-off"
    return Servers(pg.url, redis.url, mode, postmaster_pid(pg))


def postmaster_pid(pg: LocalPostgres) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((pg.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    return None


def stop_postgres(pg: LocalPostgres, work: Path) -> None:
    """Stop; a durable cluster is kept by LocalPostgres, so remove it if it lives elsewhere."""
    pg.stop()
    home = pg.data_dir.parent
    if not home.is_relative_to(work):  # LocalPostgres's /var/tmp fallback, as root
        shutil.rmtree(home.parent, ignore_errors=True)


def start_api(
    stack: contextlib.ExitStack,
    work: Path,
    servers: Servers,
    *,
    worker: str,
    processes: int | None = None,
    worker_processes: int | None = None,
) -> tuple[str, int]:
    """`paysource serve` in its own session, stopped on the way out; its URL and pid."""
    port = free_port()
    env = {
        **os.environ,
        "PAYSOURCE_DATABASE_URL": servers.db_url,
        "PAYSOURCE_REDIS_URL": servers.redis_url,
        "PAYSOURCE_LOG_LEVEL": "WARNING",
        # The per-key limit (200/s by default) would measure the limiter, not the service.
        "PAYSOURCE_RATE_LIMIT_PER_S": "1000000",
        "PAYSOURCE_LOCAL_DIR": str(work / "local"),
    }
    argv = [sys.executable, "-m", "paysource", "serve", "--port", str(port)]
    if processes:  # else serve's default: one API process per core
        argv += ["--processes", str(processes)]
    if worker_processes:  # else serve's default
        argv += ["--worker-processes", str(worker_processes)]
    log_path = work / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*argv, "--worker", worker],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
        )
    stack.callback(stop_process, proc)
    base = f"http://127.0.0.1:{port}"
    wait_ready(proc, base, log_path)
    note(f"paysource serve (pid {proc.pid}, worker: {worker}) on {base}")
    return base, proc.pid


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"paysource serve exited ({proc.returncode}):\n{tail(log_path)}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"paysource serve not ready after {START_TIMEOUT_S:.0f}s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def create_merchant(base: str, cell: str | None = None) -> str:
    """A new merchant's API key, through the admin API (placed in `cell` if named)."""
    body = {"name": "Bench Shop"} if cell is None else {"name": "Bench Shop", "cell": cell}
    request = urllib.request.Request(
        f"{base}/v1/merchants",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {os.environ.get('PAYSOURCE_ADMIN_KEY', ADMIN_KEY)}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"bench-merchant-{secrets.token_hex(8)}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        api_key: str = json.load(answer)["api_key"]
    return api_key


# --- the phases ---------------------------------------------------------------------------


def measure_db(servers: Servers, args: argparse.Namespace) -> tuple[float, float | None]:
    """(a): pgbench's transactions per second, then the same under eventsourcing's lock;
    and the probe's time for its unit meanwhile (None: no unit ran)."""
    with dbceiling.scratch_database(servers.db_url) as scratch_url:
        run = functools.partial(
            dbceiling.pgbench, scratch_url, clients=args.clients, seconds=args.seconds
        )
        with cpuuse.phase(None, servers.db_pid) as used, speedprobe.probe() as speed:
            tps = run(locked=False)
        figure("pgbench_tps", f"{tps:.0f}")
        probe_ms = report_speed("pgbench", speed)
        if args.locked:
            figure("pgbench_locked_tps", f"{run(locked=True):.0f}")
    use = used[0]
    figure("pgbench_others_cores", f"{use.cores(use.others_s):.2f}")
    if servers.db_pid is not None:
        figure("pgbench_db_cpu_ms_per_tx", f"{1000 * use.db_s / (tps * use.wall_s):.2f}")
    warn_if_noisy("pgbench", use)
    return tps, probe_ms


def measure_api(
    stack: contextlib.ExitStack, work: Path, servers: Servers, args: argparse.Namespace
) -> tuple[loadgen.Load, float | None]:
    """(b): a fresh merchant's payments through `paysource serve`, after a warm-up; and
    the probe's time for its unit meanwhile (None: no unit ran)."""
    base, api_pid = start_api(
        stack,
        work,
        servers,
        worker=args.worker,
        processes=args.api_processes,
        worker_processes=args.worker_processes,
    )
    api_key = create_merchant(base)
    watch = None if args.worker == "off" else pipelinewatch.Watch(servers.db_url, servers.redis_url)
    if watch is not None:  # the worker takes its jobs seconds after serve is ready
        stack.callback(watch.close)
        figure("worker_ready_s", f"{watch.wait_for_worker():.1f}")
        figure("worker_jobs_settled_s", f"{watch.wait_for_jobs():.1f}")
    generate = loadgen.with_wrk if args.generator == "wrk" else loadgen.with_asyncio
    if args.warmup > 0:
        generate(base, api_key, PAYMENT_BODY, clients=args.clients, seconds=args.warmup)
    if watch is not None:
        watch.start()
    worker_pids = cpuuse.worker_children(api_pid) if args.worker == "process" else []
    worker_before = sum(cpuuse.tree_cpu_s(pid) for pid in worker_pids)
    local_db = servers.db_pid is not None  # its backends' CPU is in this machine's /proc
    rails_before = cpuuse.rail_backends_cpu_s(servers.db_url) if local_db else {}
    with cpuuse.phase(api_pid, servers.db_pid) as used, speedprobe.probe() as speed:
        load = generate(base, api_key, PAYMENT_BODY, clients=args.clients, seconds=args.seconds)
    worker_s = sum(cpuuse.tree_cpu_s(pid) for pid in worker_pids) - worker_before
    rails_after = cpuuse.rail_backends_cpu_s(servers.db_url) if local_db else {}
    probe_ms = report_speed("http", speed)
    report_api(load, used[0], measured_db=local_db)
    if local_db and load.accepted:
        # Of db_cpu_ms_per_payment: the acquirer and bank simulators' own statements.
        rails_s = cpuuse.rail_cpu_s(rails_before, rails_after)
        figure("db_rail_cpu_ms_per_payment", f"{1000 * rails_s / load.accepted:.2f}")
    report_processes(load, used[0], worker_s if worker_pids else None)
    report_in_probe_units(load, used[0], speed)
    report_audit_lag(servers.db_url)
    if watch is not None:
        report_pipeline(load, watch)
    report_log(work / "serve.log")
    return load, probe_ms


def measure_framework(
    stack: contextlib.ExitStack, work: Path, args: argparse.Namespace
) -> loadgen.Load:
    """(c), with --framework: the same load on FastAPI and uvicorn doing no work
    (bench/framework_app.py), as many processes as serve runs: the web layer's ceiling."""
    return measure_yardstick_app(stack, work, args, "framework", {}, db_pid=None)


def measure_floor(
    stack: contextlib.ExitStack, work: Path, servers: Servers, args: argparse.Namespace
) -> loadgen.Load:
    """(d), with --floor: the same load on FastAPI doing only a payment's I/O, one Redis
    script, one event row by group commit, one stored answer (bench/floor_app.py): the
    least API CPU per payment on this stack."""
    with psycopg.connect(servers.db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS floor_events (id bigserial PRIMARY KEY,"
            " originator_id uuid NOT NULL, originator_version int NOT NULL,"
            " topic text NOT NULL, state bytea NOT NULL,"
            " UNIQUE (originator_id, originator_version))"
        )
    env = {"FLOOR_DATABASE_URL": servers.db_url, "FLOOR_REDIS_URL": servers.redis_url}
    return measure_yardstick_app(stack, work, args, "floor", env, db_pid=servers.db_pid)


def measure_yardstick_app(
    stack: contextlib.ExitStack,
    work: Path,
    args: argparse.Namespace,
    name: str,
    env: dict[str, str],
    *,
    db_pid: int | None,
) -> loadgen.Load:
    """bench/<name>_app.py under uvicorn, as many processes as serve runs, given the
    same load; its figures are `<name>_*`."""
    port = free_port()
    processes = args.api_processes or os.cpu_count() or 1
    argv = [sys.executable, "-m", "uvicorn", f"{name}_app:app", "--port", str(port)]
    argv += ["--workers", str(processes), "--no-access-log", "--log-level", "warning"]
    log_path = work / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=Path(__file__).resolve().parent,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.callback(stop_process, proc)
    base = f"http://127.0.0.1:{port}"
    wait_ready(proc, base, log_path)
    generate = loadgen.with_wrk if args.generator == "wrk" else loadgen.with_asyncio
    generate(base, f"psk_{name}", PAYMENT_BODY, clients=args.clients, seconds=args.warmup)
    with cpuuse.phase(proc.pid, db_pid) as used:
        load = generate(
            base, f"psk_{name}", PAYMENT_BODY, clients=args.clients, seconds=args.seconds
        )
    use = used[0]
    figure(f"{name}_processes", processes)
    figure(f"{name}_per_s", f"{load.accepted_per_s:.0f}")
    figure(f"{name}_p50_ms", f"{load.p50_ms:.1f}")
    figure(f"{name}_p99_ms", f"{load.p99_ms:.1f}")
    figure(f"{name}_errors", sum(load.errors.values()))
    if load.accepted:
        figure(f"{name}_cpu_ms_per_request", f"{1000 * use.api_s / load.accepted:.2f}")
        if db_pid is not None:
            figure(f"{name}_db_cpu_ms_per_request", f"{1000 * use.db_s / load.accepted:.2f}")
    warn_if_noisy(name, use)
    return load


def report_processes(load: loadgen.Load, use: cpuuse.CpuUse, worker_s: float | None) -> None:
    """CPU per accepted payment of each process: the API (serve without its worker child),
    the worker, Postgres, and their sum (the end-to-end cost of a payment)."""
    if not load.accepted:
        return
    api_s = use.api_s - (worker_s or 0.0)
    figure("api_only_cpu_ms_per_payment", f"{1000 * api_s / load.accepted:.2f}")
    if worker_s is not None:
        figure("worker_cores", f"{use.cores(worker_s):.2f}")
        figure("worker_cpu_ms_per_payment", f"{1000 * worker_s / load.accepted:.2f}")
    figure("total_cpu_ms_per_payment", f"{1000 * (use.api_s + use.db_s) / load.accepted:.2f}")


def report_pipeline(load: loadgen.Load, watch: pipelinewatch.Watch) -> None:
    """Captures per second during the load, each payment's accepted → succeeded lag,
    and the read models' and the audit log's lag, sampled while the load ran."""
    samples, audit = watch.stop()
    found = watch.figures()
    pct = lagwatch.percentile
    captured_per_s = found.captured / load.seconds if load.seconds else 0.0
    figure("captured_per_s", f"{captured_per_s:.0f}")
    accepted = load.accepted_per_s
    figure("captured_over_accepted", f"{captured_per_s / accepted:.2f}" if accepted else "-")
    figure("pipeline_lag_p50_s", f"{pct(found.lags_s, 50):.2f}")
    figure("pipeline_lag_p99_s", f"{pct(found.lags_s, 99):.2f}")
    figure("pipeline_lag_max_s", f"{max(found.lags_s, default=0.0):.2f}")
    figure("pipeline_never_captured", found.never_captured)
    figure("pipeline_drain_s", f"{found.drain_s:.1f}")
    worst = samples.worst_seconds()
    figure("readmodel_lag_p50_s", f"{pct(worst, 50):.2f}")
    figure("readmodel_lag_p99_s", f"{pct(worst, 99):.2f}")
    by_model = {name: pct(lags, 99) for name, lags in samples.seconds.items()}
    note("read-model lag p99 by model: " + ", ".join(f"{k} {v:.2f}s" for k, v in by_model.items()))
    figure("audit_lag_events_p50", f"{pct(audit, 50):.0f}")
    figure("audit_lag_events_p99", f"{pct(audit, 99):.0f}")


def report_audit_lag(db_url: str) -> None:
    """How many events the worker's `audit-log` job (the Merkle tree) trails the log by
    at the end of the run (the whole log with --worker off: nothing appends then)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(max(notification_id), 0) FROM paysource_events),"
            " (SELECT coalesce(max(notification_id), 0) FROM projection_tracking"
            "  WHERE application_name = 'audit-log')"
        ).fetchone()
    assert row is not None
    figure("audit_lag_events", max(0, int(row[0]) - int(row[1])))


def report_log(log_path: Path) -> None:
    """Warnings the API logged (e.g. the Redis breaker opening under load), counted."""
    found = _WARNING.findall(log_path.read_text(errors="replace"))
    figure("api_log_warnings", len(found))
    for message, count in Counter(found).most_common(3):
        note(f"the API logged {count}x: {message[:160]}")


def report_api(load: loadgen.Load, use: cpuuse.CpuUse, *, measured_db: bool) -> None:
    figure("http_accepted_per_s", f"{load.accepted_per_s:.0f}")
    figure("http_p50_ms", f"{load.p50_ms:.1f}")
    figure("http_p99_ms", f"{load.p99_ms:.1f}")
    figure("http_errors", sum(load.errors.values()))
    detail = ",".join(f"{kind}:{count}" for kind, count in sorted(load.errors.items()))
    figure("http_errors_by_kind", detail or "none")
    figure("http_others_cores", f"{use.cores(use.others_s):.2f}")
    figure("api_cores", f"{use.cores(use.api_s):.2f}")
    if load.accepted:
        figure("api_cpu_ms_per_payment", f"{1000 * use.api_s / load.accepted:.2f}")
        if measured_db:
            figure("db_cpu_ms_per_payment", f"{1000 * use.db_s / load.accepted:.2f}")
    warn_if_noisy("HTTP", use)


def report_speed(phase: str, found: list[speedprobe.Speed]) -> float | None:
    """How fast the machine ran Python during `phase` (bench/speedprobe.py)."""
    if not found:
        return None
    figure(f"{phase}_probe_ms", f"{found[0].mean_ms:.2f}")
    figure(f"{phase}_probe_best_ms", f"{found[0].best_ms:.2f}")
    return found[0].mean_ms


def report_in_probe_units(
    load: loadgen.Load, use: cpuuse.CpuUse, found: list[speedprobe.Speed]
) -> None:
    """CPU per payment over the probe's time for its unit during the same phase: a
    figure that moves far less with the machine's speed than the milliseconds do."""
    if not (found and load.accepted):
        return
    probe_s = found[0].mean_ms / 1000
    figure("api_cpu_probe_units", f"{use.api_s / load.accepted / probe_s:.3f}")
    total_s = use.api_s + use.db_s
    figure("total_cpu_probe_units", f"{total_s / load.accepted / probe_s:.3f}")


def warn_if_noisy(phase: str, use: cpuuse.CpuUse) -> None:
    others = use.cores(use.others_s)
    if others > NOISY_CORES:
        note(
            f"other processes used {others:.2f} cores during the {phase} phase: its rates are "
            "depressed; the cpu_ms figures (CPU per payment or transaction) hold up better"
        )


def measure(args: argparse.Namespace, work: Path) -> None:
    cores = os.cpu_count() or 1
    note(
        f"{cores} cores shared by Postgres, Redis, the API and the load generator "
        f"({args.generator}): rates move by 10% or more between runs; compare within a run"
    )
    for name, value in [
        ("cores", cores),
        ("clients", args.clients),
        ("seconds", args.seconds),
        ("generator", args.generator),
        ("worker", args.worker),
        ("worker_processes", args.worker_processes or "default"),
    ]:
        figure(name, value)
    with contextlib.ExitStack() as stack:
        servers = services(stack, work, durable=args.durable)
        figure("postgres", servers.postgres)
        migrate(servers.db_url, MIGRATIONS_DIR)
        pgbench_tps, pgbench_probe_ms = measure_db(servers, args)
        load, http_probe_ms = measure_api(stack, work, servers, args)
        if args.framework:
            framework = measure_framework(stack, work, args)
            figure("framework_ratio", f"{framework.accepted_per_s / pgbench_tps:.3f}")
        if args.floor:
            floor = measure_floor(stack, work, servers, args)
            figure("floor_ratio", f"{floor.accepted_per_s / pgbench_tps:.3f}")
    if pgbench_probe_ms and http_probe_ms:
        # The machine ran slower (a longer probe) during one phase than the other: the
        # ratio as both phases would have measured at the same speed.
        slower = http_probe_ms / pgbench_probe_ms
        figure("speed_adjusted_ratio", f"{slower * load.accepted_per_s / pgbench_tps:.3f}")
    # Three decimals: through the API the ratio is in the hundredths.
    figure("ratio", f"{load.accepted_per_s / pgbench_tps:.3f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="each measurement (20)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--warmup", type=int, default=3, help="HTTP warm-up seconds (3)")
    parser.add_argument(
        "--worker",
        choices=["process", "thread", "off"],
        default="process",
        help="serve's worker: a child process (default; its CPU counts in api_cpu), a "
        "thread in the API's process, or off (the API alone, nothing authorizes payments)",
    )
    parser.add_argument(
        "--no-worker", dest="worker", action="store_const", const="off", help="--worker off"
    )
    parser.add_argument("--api-processes", type=int, help="serve --processes (its default)")
    parser.add_argument(
        "--worker-processes", type=int, help="serve --worker-processes (its default)"
    )
    parser.add_argument(
        "--framework",
        action="store_true",
        help="also measure FastAPI and uvicorn doing no work (framework_*): the highest "
        "ratio reachable on this machine while the API stays on FastAPI",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure FastAPI doing only a payment's I/O (floor_*, bench/floor_app.py): "
        "the least API CPU per payment on this stack",
    )
    parser.add_argument(
        "--no-locked",
        dest="locked",
        action="store_false",
        help="skip pgbench with eventsourcing's EXCLUSIVE table lock (pgbench_locked_tps)",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="start Postgres with fsync on (default: off, as the tests run it)",
    )
    parser.add_argument(
        "--generator",
        choices=["wrk", "asyncio"],
        default="wrk" if shutil.which("wrk") else "asyncio",
        help="load generator (default: wrk if installed, else asyncio)",
    )
    return parser.parse_args(argv)


def run_in_scratch(
    run: Callable[[argparse.Namespace, Path], None], args: argparse.Namespace, prefix: str
) -> int:
    """`run(args, work)` in a temporary directory; whatever it started is stopped on
    the way out, on Ctrl-C and SIGTERM too (the benches share this)."""
    # SIGTERM unwinds like Ctrl-C, so what was started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # as root, Postgres runs as `postgres` and must enter it
        try:
            run(args, work)
        except KeyboardInterrupt:
            note("interrupted; what was started here has been stopped")
            return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_in_scratch(measure, parse_args(argv), "paysource-bench-")


if __name__ == "__main__":
    raise SystemExit(main())
