"""(a) The Postgres ceiling: pgbench running bench/payment_tx.sql, a payment's database work.

It runs in a scratch database beside the app's, so the same server, settings and machine
serve both halves of the comparison.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devtools.localservices import find_pg_bin

SCRATCH_DB = "paysource_bench"
SCRIPT = Path(__file__).resolve().parent / "payment_tx.sql"
ACCOUNTS = 1000
# A PaymentCreated event's state as the app stores it (measured: ~650 bytes).
STATE_BYTES = 650
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)

SCHEMA = f"""
CREATE TABLE bench_accounts (id int PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO bench_accounts SELECT g, 0 FROM generate_series(1, {ACCOUNTS}) AS g;
-- The shape and indexes of paysource_events, so each insert maintains the same indexes.
CREATE TABLE bench_events (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX bench_events_notification_id_idx ON bench_events (notification_id);
"""


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A fresh database on the server of `url`, with the schema; dropped on the way out."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {SCRATCH_DB}")
    try:
        scratch_url = make_conninfo(url, dbname=SCRATCH_DB)
        with psycopg.connect(scratch_url, autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute("VACUUM ANALYZE bench_accounts")  # outside the schema's transaction
        yield scratch_url
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")


def pgbench(url: str, *, clients: int, seconds: int, locked: bool) -> float:
    """Transactions per second, as pgbench reports them (connection time excluded).

    Prepared statements, as psycopg uses after a few runs of the same query; one pgbench
    thread per core, enough to keep the server busy.
    """
    params = conninfo_to_dict(url)
    argv = [str(find_pg_bin() / "pgbench"), "-n", "-M", "prepared", "-f", str(SCRIPT)]
    argv += ["-D", f"accounts={ACCOUNTS}", "-D", f"state_bytes={STATE_BYTES}"]
    argv += ["-D", f"locked={int(locked)}", "-c", str(clients), "-T", str(seconds)]
    argv += ["-j", str(min(clients, os.cpu_count() or 1))]
    argv += ["-h", str(params.get("host") or "127.0.0.1"), "-p", str(params.get("port") or 5432)]
    argv += ["-U", str(params.get("user") or "postgres"), str(params["dbname"])]
    password = params.get("password")
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    found = _TPS.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return float(found.group(1))
