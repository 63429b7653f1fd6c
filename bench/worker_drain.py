"""The worker's CPU per payment, measured on a backlog: independent of what else runs.

    ./.venv/bin/python bench/worker_drain.py [--seconds 15] [--clients 32]

In one run on one machine it
  1. accepts payments through `paysource serve --worker off` for `--seconds` (the same
     closed-loop load as bench/payments.py), so a backlog builds with nothing processing it;
  2. starts one `paysource worker` and waits until every job has caught up (each payment
     risk-checked, authorized, captured, its capture relayed, notified, and every read
     model, the audit log and the webhook outbox past it) and the log stays still;
  3. prints the worker's and Postgres's CPU over that drain, per payment.

Under live load (bench/payments.py) the worker's CPU per payment depends on how busy the
machine is: a slower worker sees bigger batches and pays less per payment. A drain runs
at the largest batches whatever else runs, so its figures compare across runs and
commits; it is the before/after figure for work on the worker. The worker's start-up
(imports, connections: about a second of CPU) counts in it: with the default backlog of
several thousand payments that is about 0.1-0.2 ms per payment. stdout holds only
`name=value` lines; notes go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
from pathlib import Path

import cpuuse
import lagwatch
import loadgen
import payments
import readside
from payments import figure

from paysource.adapters.postgres.migrations import migrate
from paysource.bootstrap import build_cell
from paysource.config import MIGRATIONS_DIR

DRAIN_TIMEOUT_S = 600.0


def measure(args: argparse.Namespace, work: Path) -> None:
    figure("cores", os.cpu_count() or 1)
    with contextlib.ExitStack() as stack:
        servers = payments.services(stack, work, durable=False)
        migrate(servers.db_url, MIGRATIONS_DIR)
        base, _ = payments.start_api(stack, work, servers, worker="off", processes=1)
        api_key = payments.create_merchant(base)
        generate = loadgen.with_wrk if args.generator == "wrk" else loadgen.with_asyncio
        load = generate(
            base, api_key, payments.PAYMENT_BODY, clients=args.clients, seconds=args.seconds
        )
        figure("backlog_payments", load.accepted)
        cell = build_cell(readside.cell_settings(servers), servers.db_url)
        head_before = cell.store.head()
        worker_pid = readside.start_worker(stack, work, servers)
        with cpuuse.phase(worker_pid, servers.db_pid) as used:
            drained = lagwatch.wait_caught_up(
                cell.store, cell.read.datastore, timeout_s=DRAIN_TIMEOUT_S
            )
        if drained is None:
            raise RuntimeError(f"the worker did not drain the backlog in {DRAIN_TIMEOUT_S:.0f} s")
        report(load.accepted, used[0], cell.store.head() - head_before, drained)


def report(backlog: int, use: cpuuse.CpuUse, events: int, wall_s: float) -> None:
    figure("drain_s", f"{wall_s:.1f}")
    figure("drain_payments_per_s", f"{backlog / wall_s:.0f}")
    figure("drain_events_written", events)
    figure("drain_others_cores", f"{use.cores(use.others_s):.2f}")
    figure("worker_cpu_ms_per_payment", f"{1000 * use.api_s / backlog:.2f}")
    figure("db_cpu_ms_per_payment", f"{1000 * use.db_s / backlog:.2f}")
    figure("total_cpu_ms_per_payment", f"{1000 * (use.api_s + use.db_s) / backlog:.2f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="seconds of load (15)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument(
        "--generator",
        choices=["wrk", "asyncio"],
        default="wrk" if shutil.which("wrk") else "asyncio",
        help="load generator (default: wrk if installed, else asyncio)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return payments.run_in_scratch(measure, parse_args(argv), "paysource-drain-")


if __name__ == "__main__":
    raise SystemExit(main())
