"""The same payment load with 1 and 2 cells and with 1 and 2 API processes (issue 15).

    ./.venv/bin/python bench/scale.py [--seconds 15] [--clients 32] [--configs 1x1,1x2,2x1,2x2]

A configuration `CxP` is C cells (Postgres clusters; the second one named by
PAYSOURCE_CELLS) served by `paysource serve --processes P` with its worker as a child
process. Each configuration gets fresh databases, two merchants (with two cells, one
placed on each) and the clients split evenly between them, after a warm-up. One pgbench
run on the first cluster, in the same run, is the yardstick for the ratios.

stdout holds `name=value` lines: per configuration `<CxP>_accepted_per_s`, `_p99_ms`
(the worse merchant's), `_errors`, `_cpu_ms_per_payment` (API + worker + both
Postgres clusters), `_ratio` (accepted / pgbench_tps) and `_payments_by_cell`
(created/captured in each cell's log after the load: both cells take their share).
On a 2-core machine the cores are the limit, not the design: more processes or
clusters than cores only share them, so CPU per payment is the figure that carries
to bigger machines (bench/README.md).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cpuuse
import dbceiling
import loadgen
import payments
import psycopg
from eventsourcing.utils import get_topic
from payments import figure, note

from devtools.localservices import LocalPostgres, LocalRedis
from paysource.adapters.postgres.migrations import migrate
from paysource.config import MIGRATIONS_DIR
from paysource.domain.payment import Payment

Generator = Callable[..., loadgen.Load]  # loadgen.with_wrk or loadgen.with_asyncio


@dataclass(frozen=True)
class Cluster:
    url: str  # the cluster's maintenance database
    pid: int | None  # its postmaster, whose CPU (and its backends') is measured


@dataclass(frozen=True)
class Config:
    cells: int
    processes: int

    @property
    def name(self) -> str:
        return f"{self.cells}x{self.processes}"


def parse_configs(text: str) -> list[Config]:
    configs = []
    for part in text.split(","):
        cells, _, processes = part.strip().partition("x")
        config = Config(int(cells), int(processes))
        if config.cells not in (1, 2) or config.processes < 1:
            raise argparse.ArgumentTypeError(f"{part!r}: cells 1 or 2, processes ≥ 1")
        configs.append(config)
    return configs


def start_clusters(stack: contextlib.ExitStack, work: Path) -> list[Cluster]:
    clusters = []
    for index in range(2):
        pg = LocalPostgres.start(work / f"cluster{index}", ephemeral=True)
        stack.callback(payments.stop_postgres, pg, work)
        clusters.append(Cluster(pg.url, payments.postmaster_pid(pg)))
        note(f"cluster {index}: Postgres on :{pg.port}, fsync off")
    return clusters


def fresh_database(cluster: Cluster, name: str) -> str:
    """A new, migrated database on the cluster, for one configuration."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"{cluster.url.rsplit('/', 1)[0]}/{name}"  # the settings want a URL
    migrate(url, MIGRATIONS_DIR)
    return url


def split_load(
    generate: Generator, base: str, keys: list[str], *, clients: int, seconds: int
) -> list[loadgen.Load]:
    """The clients split evenly over the merchants' keys, all running at once."""
    share = max(1, clients // len(keys))
    with concurrent.futures.ThreadPoolExecutor(len(keys)) as pool:
        runs = [
            pool.submit(generate, base, key, payments.PAYMENT_BODY, clients=share, seconds=seconds)
            for key in keys
        ]
        return [run.result() for run in runs]


def run_config(
    config: Config, clusters: list[Cluster], redis_url: str, work: Path, args: argparse.Namespace
) -> None:
    tag = f"c{config.cells}p{config.processes}_{secrets.token_hex(3)}"
    urls = [fresh_database(clusters[i], f"bench_{tag}_{i}") for i in range(config.cells)]
    servers = payments.Servers(urls[0], redis_url, "local-fsync-off", clusters[0].pid)
    if config.cells == 2:
        os.environ["PAYSOURCE_CELLS"] = f"cell-1={urls[1]}"
    try:
        with contextlib.ExitStack() as stack:
            base, api_pid = payments.start_api(
                stack, work, servers, worker="process", processes=config.processes
            )
            cells = ["cell-0", "cell-1"] if config.cells == 2 else [None, None]
            keys = [payments.create_merchant(base, cell) for cell in cells]
            generate = loadgen.with_wrk if args.generator == "wrk" else loadgen.with_asyncio
            split_load(generate, base, keys, clients=args.clients, seconds=args.warmup)
            db_pids = [cluster.pid for cluster in clusters[: config.cells]]
            db_before = sum(cpuuse.tree_cpu_s(pid) for pid in db_pids)
            with cpuuse.phase(api_pid, None) as used:
                loads = split_load(generate, base, keys, clients=args.clients, seconds=args.seconds)
            db_s = sum(cpuuse.tree_cpu_s(pid) for pid in db_pids) - db_before
            report(config, loads, used[0], db_s, args.pgbench_tps)
            figure(f"{config.name}_payments_by_cell", ",".join(payments_in(url) for url in urls))
    finally:
        os.environ.pop("PAYSOURCE_CELLS", None)


def payments_in(url: str) -> str:
    """`created/captured` payments in a cell's log: both cells must take their share."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE topic = %s), count(*) FILTER (WHERE topic = %s)"
            " FROM paysource_events",
            (get_topic(Payment.Created), get_topic(Payment.Captured)),
        ).fetchone()
    assert row is not None
    return f"{row[0]}/{row[1]}"


def report(
    config: Config, loads: list[loadgen.Load], use: cpuuse.CpuUse, db_s: float, pgbench: float
) -> None:
    seconds = max(load.seconds for load in loads)
    accepted = sum(load.accepted for load in loads)
    per_s = accepted / seconds if seconds else 0.0
    name = config.name
    figure(f"{name}_accepted_per_s", f"{per_s:.0f}")
    figure(f"{name}_p99_ms", f"{max(load.p99_ms for load in loads):.1f}")
    figure(f"{name}_errors", sum(sum(load.errors.values()) for load in loads))
    if accepted:
        figure(f"{name}_cpu_ms_per_payment", f"{1000 * (use.api_s + db_s) / accepted:.2f}")
    figure(f"{name}_others_cores", f"{use.cores(use.others_s - db_s):.2f}")
    figure(f"{name}_ratio", f"{per_s / pgbench:.3f}")


def measure(args: argparse.Namespace, work: Path) -> None:
    figure("cores", os.cpu_count() or 1)
    figure("clients", args.clients)
    figure("seconds", args.seconds)
    figure("generator", args.generator)
    with contextlib.ExitStack() as stack:
        clusters = start_clusters(stack, work)
        redis = stack.enter_context(LocalRedis.start(work))
        with dbceiling.scratch_database(clusters[0].url) as scratch:
            run = functools.partial(dbceiling.pgbench, scratch, clients=args.clients)
            args.pgbench_tps = run(seconds=args.seconds, locked=False)
        figure("pgbench_tps", f"{args.pgbench_tps:.0f}")
        for config in args.configs:
            note(f"configuration {config.name}: {config.cells} cell(s), {config.processes} API")
            run_config(config, clusters, redis.url, work, args)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="each measurement (15)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds (3)")
    parser.add_argument(
        "--configs",
        type=parse_configs,
        default=parse_configs("1x1,1x2,2x1,2x2"),
        help="cells x API processes, comma-separated (1x1,1x2,2x1,2x2)",
    )
    parser.add_argument(
        "--generator",
        choices=["wrk", "asyncio"],
        default="wrk" if shutil.which("wrk") else "asyncio",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return payments.run_in_scratch(measure, parse_args(argv), "paysource-scale-")


if __name__ == "__main__":
    raise SystemExit(main())
