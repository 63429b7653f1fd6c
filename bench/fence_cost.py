"""What the check of a merchant's move (application/move_fence.py, migration 027) costs
an insert of events: the same inserts with their owners to check and without.

    ./.venv/bin/python bench/fence_cost.py [--transactions 2000]

Starts a throwaway Postgres (fsync off, as the tests run it), seals 100 000 ids (a
large moved merchant's aggregates) so the check does not read an empty table, then
inserts transactions as group commit makes them: one save of 4 events (a quiet moment)
and 64 saves of 4, each of another merchant (a full batch, the most owners one can
ask about). Without and with the check take turns transaction by transaction, since
the shared machine's speed moves by a third within seconds (bench/speedprobe.py).
Prints the median wall time per transaction and this process's CPU per transaction.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path
from uuid import UUID, uuid4

import payments
import psycopg
import readside
from eventsourcing.persistence import StoredEvent
from payments import figure

from paysource.adapters.postgres.migrations import migrate
from paysource.bootstrap import build_cell
from paysource.config import MIGRATIONS_DIR

TOPIC = "paysource.domain.payment:Payment.Created"
STATE = b'{"amount_minor": 1000, "currency": "USD", "note": "' + b"x" * 560 + b'"}'
SEALED = 100_000


def _batch(saves: int) -> tuple[list[StoredEvent], list[UUID]]:
    """`saves` saves of 4 events each, and their owners (one merchant each)."""
    events = []
    for _ in range(saves):
        aggregate = uuid4()
        events += [StoredEvent(aggregate, v, TOPIC, STATE) for v in (1, 2, 3, 4)]
    return events, [uuid4() for _ in range(saves)]


def _compare(recorder: object, saves: int, transactions: int) -> None:
    insert = recorder.insert_events  # type: ignore[attr-defined]
    walls: dict[str, list[float]] = {"plain": [], "checked": []}
    cpu = dict.fromkeys(walls, 0.0)
    for _ in range(transactions):
        for name, found in walls.items():
            events, owners = _batch(saves)
            kwargs = {"fence": owners} if name == "checked" else {}
            started_cpu, started = time.process_time(), time.perf_counter()
            insert(events, **kwargs)
            found.append(time.perf_counter() - started)
            cpu[name] += time.process_time() - started_cpu
    for name, found in walls.items():
        figure(f"saves_{saves}_{name}_ms_per_tx", f"{1000 * statistics.median(found):.3f}")
        figure(f"saves_{saves}_{name}_cpu_us_per_tx", f"{1e6 * cpu[name] / transactions:.0f}")


def measure(args: argparse.Namespace, work: Path) -> None:
    with contextlib.ExitStack() as stack:
        servers = payments.services(stack, work, durable=False)
        migrate(servers.db_url, MIGRATIONS_DIR)
        with psycopg.connect(servers.db_url) as conn:
            conn.execute(
                "INSERT INTO moved_out_ids SELECT gen_random_uuid(), gen_random_uuid()"
                " FROM generate_series(1, %s)",
                (SEALED,),
            )
        cell = build_cell(readside.cell_settings(servers), servers.db_url)  # kept: its pools
        _compare(cell.store.recorder, 1, args.transactions)
        _compare(cell.store.recorder, 64, max(1, args.transactions // 10))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000, help="of one save (2000)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return payments.run_in_scratch(measure, parse_args(argv), "paysource-fence-")


if __name__ == "__main__":
    raise SystemExit(main())
