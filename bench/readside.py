"""How fast each read model rebuilds, and how far projections lag behind under load.

    ./.venv/bin/python bench/readside.py [--events 200000] [--seconds 20] [--clients 32]

In one run on one machine it
  1. writes at least `--events` events of realistic payment histories straight into
     the event store (bench/eventgen.py: no HTTP, hundreds of aggregates per save);
  2. scans the whole log as a rebuild would read it: fetching only, then fetching and
     decoding every event (`raw_decode_events_per_s`, the most a rebuild could reach);
  3. rebuilds every read model from the first event in one read of the log
     (`projections rebuild --all`, on `--processes`, default one per core, as the CLI
     does; `--one-by-one`: each on its own) and prints the
     rates, their ratio to (2) and how long each swap held the live projection, then
     verifies some against a full replay;
  4. copies the rebuilt rows into fresh tables inside Postgres alone, keys, indexes and
     statistics as a rebuild makes them, and rolls that back: Postgres's floor under
     any rebuild of these read models (`materialise_*`);
  5. runs the payment load of bench/payments.py against `paysource serve` (its embedded
     worker, or `--worker separate`) on the same database, sampling every projection's
     lag, and the processor's, every 200 ms.

stdout holds only `name=value` lines; notes go to stderr. bench/README.md says what
each figure means. Throwaway Postgres and Redis are started in a temporary directory
unless PAYSOURCE_DATABASE_URL and PAYSOURCE_REDIS_URL are both set (the events are
then written into that database, and its read models rebuilt: use a scratch one).
Everything started here is stopped on the way out, on errors and Ctrl-C too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cpuuse
import eventgen
import lagwatch
import loadgen
import payments
from eventsourcing.persistence import Tracking
from psycopg import Cursor
from psycopg.rows import DictRow

from paysource.adapters.postgres.migrations import migrate
from paysource.bootstrap import Cell, build_cell
from paysource.config import MIGRATIONS_DIR, Settings
from paysource.entrypoints.rebuild_processes import rebuild_in_processes
from paysource.processes.payouts import PayoutProcessor
from paysource.readmodels import maintenance, rebuilding, tableswap
from paysource.readmodels.catalog import PROJECTIONS

REPO = Path(__file__).resolve().parent.parent
note, figure = payments.note, payments.figure
SCAN_BATCH = 5000
FLOOR_SCHEMA = "bench_floor"
CATCH_UP_TIMEOUT_S = 120.0


# --- (1) the log ---------------------------------------------------------------------


def fill_log(cell: Cell, servers: payments.Servers, args: argparse.Namespace) -> int:
    """Generate the events; return the log's size (its head)."""
    with cpuuse.phase(None, servers.db_pid) as used:
        made = eventgen.generate(cell.store, events=args.events, merchants=args.merchants)
    head = cell.store.head()
    figure("events", head)
    figure("generated_events_per_s", f"{made.events_per_second:.0f}")
    statuses = ",".join(f"{k}:{v}" for k, v in sorted(made.statuses.items()))
    note(
        f"generated {made.events} events in {made.seconds:.1f}s: {made.merchants} merchants, "
        f"{made.payments} payments ({statuses}), {made.refunds} refunds, "
        f"{made.settlements} settlements"
    )
    report_cpu("generate", used[0], servers, made.events)
    return head


def report_cpu(phase: str, use: cpuuse.CpuUse, servers: payments.Servers, events: int) -> None:
    """CPU of a phase: cores used by this script (Python) and by Postgres, and their
    CPU per event, which moves far less with what else runs than the rates do."""
    figure(f"{phase}_py_cores", f"{use.cores(use.ours_s):.2f}")
    figure(f"{phase}_py_us_per_event", f"{1e6 * use.ours_s / max(events, 1):.1f}")
    if servers.db_pid is not None:
        figure(f"{phase}_db_cores", f"{use.cores(use.db_s):.2f}")
        figure(f"{phase}_db_us_per_event", f"{1e6 * use.db_s / max(events, 1):.1f}")
    others = use.cores(use.others_s)
    figure(f"{phase}_others_cores", f"{others:.2f}")
    if others > payments.NOISY_CORES:
        note(f"other processes used {others:.2f} cores during {phase}: its rates are depressed")


# --- (2) the baseline: reading the log -------------------------------------------------


def scan_rates(cell: Cell, servers: payments.Servers) -> float:
    """The whole log read in batches: fetched only, then fetched and decoded."""
    store = cell.store

    def fetch(after: int) -> list[int]:
        found = store.recorder.select_notifications(
            start=after, limit=SCAN_BATCH, inclusive_of_start=False
        )
        return [n.id for n in found]

    def decode(after: int) -> list[int]:
        return [number for number, _ in store.select(after=after, limit=SCAN_BATCH)]

    rates = {}
    for name, read in (("raw_fetch", fetch), ("raw_decode", decode)):
        with cpuuse.phase(None, servers.db_pid) as used:
            events, seconds = scan(read)
        rates[name] = events / seconds
        figure(f"{name}_events_per_s", f"{rates[name]:.0f}")
        report_cpu(name, used[0], servers, events)
    return rates["raw_decode"]


def scan(read: Callable[[int], list[int]]) -> tuple[int, float]:
    started, after, events = time.perf_counter(), 0, 0
    while numbers := read(after):
        after, events = numbers[-1], events + len(numbers)
    return events, time.perf_counter() - started


# --- (3) rebuilds and verification ----------------------------------------------------


def rebuild_all(
    cell: Cell, servers: payments.Servers, args: argparse.Namespace, decode_rate: float
) -> None:
    for batch_size in args.batch_sizes:
        suffix = "" if len(args.batch_sizes) == 1 else f"_b{batch_size}"
        if args.one_by_one:
            for name in PROJECTIONS:
                rebuild_some([name], suffix, batch_size, cell, servers, decode_rate)
        else:
            rebuild_some(
                list(PROJECTIONS), suffix, batch_size, cell, servers, decode_rate, args.processes
            )


def rebuild_some(
    names: list[str],
    suffix: str,
    batch_size: int,
    cell: Cell,
    servers: payments.Servers,
    decode_rate: float,
    processes: int = 1,
) -> None:
    """`projections rebuild --all` (the read models shared out among `processes`, each
    reading the log once for its share), or one read model."""
    phase = f"rebuild_{names[0] if len(names) == 1 else 'all'}{suffix}"
    with cpuuse.phase(None, servers.db_pid) as used:
        if processes > 1 and len(names) > 1:
            reports = rebuild_in_processes(
                cell_settings(servers), cell.name, names, processes=processes, batch_size=batch_size
            )
        else:
            reports = rebuilding.rebuild_all(
                names, cell.store, cell.read.datastore, batch_size=batch_size
            )
    seconds = used[0].wall_s  # the whole phase: one pass, or the processes from spawn to swap
    log_rate = cell.store.head() / seconds  # the whole log is read, whatever each follows
    if len(names) > 1:
        figure(f"{phase}_seconds", f"{seconds:.2f}")
        figure(f"{phase}_log_events_per_s", f"{log_rate:.0f}")
        figure(f"{phase}_ratio", f"{log_rate / decode_rate:.2f}")
    for report in reports:
        prefix = f"rebuild_{report.name}{suffix}"
        figure(f"{prefix}_events", report.events)
        figure(f"{prefix}_seconds", f"{report.seconds:.2f}")
        # How long the live projection waited for the swap (its tracking row held).
        figure(f"{prefix}_swap_seconds", f"{report.hold_seconds:.3f}")
        figure(f"{prefix}_events_per_s", f"{report.events_per_second:.0f}")
        figure(f"{prefix}_ratio", f"{report.events_per_second / decode_rate:.2f}")
        figure(f"{prefix}_log_events_per_s", f"{log_rate:.0f}")
    report_cpu(phase, used[0], servers, cell.store.head())


def verify_some(cell: Cell, names: list[str]) -> None:
    for name in names:
        started = time.perf_counter()
        differences = maintenance.verify(name, cell.store, cell.read.datastore)
        seconds = time.perf_counter() - started
        figure(f"verify_{name}", "differs" if differences else "identical")
        if differences:
            for d in differences:
                note(f"verify {name}.{d.table}: {d.only_live} live only, {d.only_rebuilt} rebuilt")
                for example in d.examples:
                    note(f"    {example[:200]}")
        else:
            note(f"verify {name}: the rebuilt read model equals a full replay ({seconds:.1f}s)")


# --- (4) Postgres's floor ------------------------------------------------------------


def materialise(cell: Cell, servers: payments.Servers) -> None:
    """Postgres's floor under a rebuild: the rebuilt read models' rows copied into fresh
    tables by Postgres alone, as a rebuild makes them (keys and triggers first, rows,
    then the other indexes and statistics), but with no client formatting, sending or
    reading back. What a rebuild's Postgres CPU has above this is its protocol and
    prefetch work; a rebuild's budget on this machine, less this and the log's decoding
    (`raw_decode`), is what the read models' Python may spend (bench/README.md)."""
    tables = [table for view, _ in PROJECTIONS.values() for table in view.tables]
    with (
        cpuuse.phase(None, servers.db_pid) as used,
        cell.read.datastore.transaction(commit=False) as curs,
    ):
        curs.execute(f"CREATE SCHEMA {FLOOR_SCHEMA}")
        found = tableswap.read_definitions(curs, tables)
        tableswap.create_fresh(curs, tables, FLOOR_SCHEMA, found)
        rows = 0
        for table in tables:
            columns = ", ".join(stored_columns(curs, table))
            copied = curs.execute(
                f"INSERT INTO {FLOOR_SCHEMA}.{table} ({columns})"  # names from our schema
                f" SELECT {columns} FROM public.{table}"
            )
            rows += copied.rowcount
        tableswap.build_indexes(curs, tables, FLOOR_SCHEMA, found)
    # Rolled back: the schema and its copies go with the transaction.
    figure("materialise_rows", rows)
    figure("materialise_seconds", f"{used[0].wall_s:.2f}")
    report_cpu("materialise", used[0], servers, cell.store.head())


def stored_columns(curs: Cursor[DictRow], table: str) -> list[str]:
    """`table`'s columns that a writer sets (not the generated ones Postgres computes)."""
    found = curs.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (f"public.{table}",),
    ).fetchall()
    return [row["attname"] for row in found]


# --- (5) lag under the payment load ---------------------------------------------------


def processor_names(settings: Settings) -> list[str]:
    # As PaymentProcessor names the tracking positions of its partitions.
    partitions = settings.worker_partitions
    return [f"processor-{i}-of-{partitions}" for i in range(partitions)]


def skip_pipeline_backlog(cell: Cell, settings: Settings) -> None:
    """Move the pipeline's followers to the head: the generated payments are final
    already, and replaying tens of thousands of them through the processor would only
    measure that."""
    head = cell.store.head()
    for name in [*processor_names(settings), PayoutProcessor.name]:
        if cell.store.position(name) < head:
            cell.store.save(tracking=Tracking(name, head))


def measure_lag(
    stack: contextlib.ExitStack,
    work: Path,
    cell: Cell,
    servers: payments.Servers,
    args: argparse.Namespace,
) -> None:
    settings = cell_settings(servers)
    skip_pipeline_backlog(cell, settings)
    embedded = args.worker == "embedded"
    base, api_pid = payments.start_api(stack, work, servers, worker="thread" if embedded else "off")
    worker_pid = None if embedded else start_worker(stack, work, servers)
    api_key = payments.create_merchant(base)
    generate = loadgen.with_wrk if args.generator == "wrk" else loadgen.with_asyncio
    body = payments.PAYMENT_BODY
    if args.warmup > 0:
        generate(base, api_key, body, clients=args.clients, seconds=args.warmup)
    lagwatch.wait_caught_up(cell.store, cell.read.datastore, timeout_s=CATCH_UP_TIMEOUT_S)
    sampler = lagwatch.LagSampler(
        cell.store, cell.read.datastore, pipeline=processor_names(settings)
    )
    head_before, worker_before = cell.store.head(), cpuuse.tree_cpu_s(worker_pid)
    sampler.start()
    try:
        with cpuuse.phase(api_pid, servers.db_pid) as used:
            load = generate(base, api_key, body, clients=args.clients, seconds=args.seconds)
    finally:
        samples = sampler.stop()
    figure("log_events_per_s", f"{(cell.store.head() - head_before) / load.seconds:.0f}")
    payments.report_api(load, used[0], measured_db=servers.db_pid is not None)
    if worker_pid is not None:
        worker_s = cpuuse.tree_cpu_s(worker_pid) - worker_before
        figure("worker_cores", f"{worker_s / used[0].wall_s:.2f}")
    report_lag(samples)
    drained = lagwatch.wait_caught_up(cell.store, cell.read.datastore, timeout_s=CATCH_UP_TIMEOUT_S)
    figure("drain_s", "timeout" if drained is None else f"{drained:.1f}")
    payments.report_log(work / "serve.log")


def start_worker(stack: contextlib.ExitStack, work: Path, servers: payments.Servers) -> int:
    """`paysource worker` in a process (and a GIL) of its own, stopped on the way out."""
    env = {
        **os.environ,
        "PAYSOURCE_DATABASE_URL": servers.db_url,
        "PAYSOURCE_REDIS_URL": servers.redis_url,
        "PAYSOURCE_LOG_LEVEL": "WARNING",
        "PAYSOURCE_LOCAL_DIR": str(work / "local"),
    }
    with (work / "worker.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "paysource", "worker"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
        )
    stack.callback(payments.stop_process, proc)
    note(f"paysource worker (pid {proc.pid}) in its own process")
    return proc.pid


def report_lag(samples: lagwatch.Samples) -> None:
    pct = lagwatch.percentile
    worst_s, worst_events = samples.worst_seconds(), samples.worst_events()
    figure("lag_samples", len(samples.sample_ms))
    figure("lag_p50_s", f"{pct(worst_s, 50):.3f}")
    figure("lag_p99_s", f"{pct(worst_s, 99):.3f}")
    figure("lag_max_s", f"{max(worst_s, default=0.0):.3f}")
    figure("lag_events_p50", f"{pct(worst_events, 50):.0f}")
    figure("lag_events_p99", f"{pct(worst_events, 99):.0f}")
    for name in PROJECTIONS:
        seconds, events = samples.seconds[name], [float(v) for v in samples.events[name]]
        figure(f"lag_{name}_p50_s", f"{pct(seconds, 50):.3f}")
        figure(f"lag_{name}_p99_s", f"{pct(seconds, 99):.3f}")
        figure(f"lag_{name}_events_p99", f"{pct(events, 99):.0f}")
    figure("pipeline_lag_p50_s", f"{pct(samples.pipeline_s, 50):.3f}")
    figure("pipeline_lag_p99_s", f"{pct(samples.pipeline_s, 99):.3f}")
    figure("pipeline_lag_max_s", f"{max(samples.pipeline_s, default=0.0):.3f}")
    figure("lag_sample_ms_p50", f"{pct(samples.sample_ms, 50):.1f}")


# --- the run --------------------------------------------------------------------------


def cell_settings(servers: payments.Servers) -> Settings:
    """The bench's own settings: the run's servers, few connections."""
    return Settings(
        database_url=servers.db_url,
        redis_url=servers.redis_url,
        db_pool_size=2,
        db_max_overflow=2,
        read_pool_size=2,
    )


def measure(args: argparse.Namespace, work: Path) -> None:
    cores = os.cpu_count() or 1
    note(
        f"{cores} cores shared by Postgres, this script, and later the API, the worker "
        f"({args.worker}) and the load generator ({args.generator}): rates move by 10% or "
        "more between runs, and more when anything else runs; compare ratios and CPU per "
        "event, which hold up better"
    )
    for name, value in [
        ("cores", cores),
        ("clients", args.clients),
        ("seconds", args.seconds),
        ("generator", args.generator),
        ("batch_sizes", ",".join(map(str, args.batch_sizes))),
        ("worker", args.worker),
        ("rebuild_processes", args.processes),
    ]:
        figure(name, value)
    with contextlib.ExitStack() as stack:
        servers = payments.services(stack, work, durable=args.durable)
        figure("postgres", servers.postgres)
        migrate(servers.db_url, MIGRATIONS_DIR)
        cell = build_cell(cell_settings(servers), servers.db_url)
        stack.callback(cell.close)
        fill_log(cell, servers, args)
        decode_rate = scan_rates(cell, servers)
        rebuild_all(cell, servers, args, decode_rate)
        verify_some(cell, args.verify)
        materialise(cell, servers)
        if args.seconds > 0:
            measure_lag(stack, work, cell, servers, args)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to write (200000)")
    parser.add_argument("--merchants", type=int, default=40, help="merchants (40)")
    parser.add_argument(
        "--seconds", type=int, default=20, help="load under lag watch (20; 0 skips)"
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--warmup", type=int, default=3, help="HTTP warm-up seconds (3)")
    parser.add_argument(
        "--batch-size",
        dest="batch_sizes",
        type=int,
        action="append",
        help="events per rebuild transaction; repeat to compare (5000)",
    )
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="rebuild each read model on its own (a read of the log each), not all in one",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="processes sharing the read models out in a rebuild of all (the cores, as"
        " `projections rebuild --all`)",
    )
    parser.add_argument(
        "--verify",
        default="payments",
        help="read models to verify after their rebuild, comma-separated ('' for none)",
    )
    parser.add_argument(
        "--worker",
        choices=["embedded", "separate"],
        default="embedded",
        help="the worker inside `paysource serve` (default), or `serve --no-worker` beside a"
        " `paysource worker` process",
    )
    parser.add_argument("--durable", action="store_true", help="start Postgres with fsync on")
    parser.add_argument(
        "--generator",
        choices=["wrk", "asyncio"],
        default="wrk" if shutil.which("wrk") else "asyncio",
        help="load generator (default: wrk if installed, else asyncio)",
    )
    args = parser.parse_args(argv)
    args.batch_sizes = args.batch_sizes or [5000]
    args.verify = [name for name in args.verify.split(",") if name]
    unknown = set(args.verify) - set(PROJECTIONS)
    if unknown:
        parser.error(f"unknown read models: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    return payments.run_in_scratch(measure, parse_args(argv), "paysource-readside-")


if __name__ == "__main__":
    raise SystemExit(main())
