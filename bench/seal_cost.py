"""What a move's seal (adapters/postgres/moves.py `refuse_writes` and `seal`) costs the
source cell for a merchant of many aggregates: how long it runs, and how long another
merchant's writes wait meanwhile (the seal takes the events table's lock, which every
write of events takes too).

    ./.venv/bin/python bench/seal_cost.py [--aggregates 200000]

Starts a throwaway Postgres (fsync off, as the tests run it), inserts a merchant of
`--aggregates` aggregates (two events each, written before the move's look, so the
seal never decodes them), then seals it while a thread saves another merchant's
customers one after another through the cell's event store (group commit, the
insert's check). Prints the seal's wall time, and the writer's median and worst save
time during the seal next to its median before.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import threading
import time
from pathlib import Path
from uuid import UUID, uuid4

import payments
import psycopg
import readside
from payments import figure

from paysource.adapters.postgres import moves
from paysource.adapters.postgres.migrations import migrate
from paysource.bootstrap import Cell, build_cell
from paysource.config import MIGRATIONS_DIR
from paysource.domain.customer import Customer
from paysource.domain.meta import ActorKind, Meta

TOPIC = "paysource.domain.payment:Payment.Captured"  # never decoded: before the look
STATE = b'{"amount_minor": 1000, "note": "' + b"x" * 400 + b'"}'


def _merchant(url: str, aggregates: int) -> tuple[set[UUID], int]:
    """A merchant's aggregates, inserted as its past; their ids and the log's head."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO paysource_events (originator_id, originator_version, topic, state)"
            " SELECT a.id, v.v, %s, %s FROM (SELECT gen_random_uuid() AS id"
            " FROM generate_series(1, %s)) a CROSS JOIN (VALUES (1), (2)) v(v)"
            " ORDER BY a.id, v.v",
            (TOPIC, STATE, aggregates),
        )
        ids = conn.execute(
            "SELECT DISTINCT originator_id FROM paysource_events WHERE topic = %s", (TOPIC,)
        ).fetchall()
        head = conn.execute("SELECT max(notification_id) FROM paysource_events").fetchone()
    assert head is not None
    return {row[0] for row in ids}, int(head[0])


class Writer(threading.Thread):
    """Another merchant saving customers back to back; the time of each save."""

    def __init__(self, cell: Cell) -> None:
        super().__init__(daemon=True)
        self.cell, self.merchant = cell, uuid4()
        self.saves: list[tuple[float, float]] = []  # (started, seconds)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            customer = Customer.create(
                customer_id=uuid4(),
                merchant_id=self.merchant,
                email=None,
                name="Ada",
                metadata={},
                request_hash="h",
                meta=Meta(actor=ActorKind.MERCHANT),
            )
            started = time.perf_counter()
            self.cell.store.save(customer)
            self.saves.append((started, time.perf_counter() - started))

    def during(self, start: float, end: float) -> list[float]:
        return [s for at, s in self.saves if start <= at <= end or start <= at + s <= end]


def _seal(cell: Cell, merchant: UUID, found: set[UUID], head: int) -> None:
    url, decode = cell.database_url, cell.store.decode
    moves.refuse_writes(url, merchant, found)
    sealing = moves.seal(url, decode, merchant, found, scanned=head, last=head)
    assert sealing is moves.Sealing.SEALED, sealing


def measure(args: argparse.Namespace, work: Path) -> None:
    with contextlib.ExitStack() as stack:
        servers = payments.services(stack, work, durable=False)
        migrate(servers.db_url, MIGRATIONS_DIR)
        merchant = uuid4()
        found, head = _merchant(servers.db_url, args.aggregates)
        cell = build_cell(readside.cell_settings(servers), servers.db_url)  # kept: its pools
        writer = Writer(cell)
        writer.start()
        time.sleep(args.before_s)
        started = time.perf_counter()
        _seal(cell, merchant, found, head)
        ended = time.perf_counter()
        time.sleep(0.5)
        writer.stop.set()
        writer.join()
        before = [s for at, s in writer.saves if at + s < started]
        during = writer.during(started, ended)
        figure("aggregates", len(found))
        figure("seal_s", f"{ended - started:.2f}")
        figure("writer_ms_median_before", f"{1000 * statistics.median(before):.1f}")
        figure("writer_saves_during_seal", len(during))
        figure("writer_ms_median_during", f"{1000 * statistics.median(during):.1f}")
        figure("writer_ms_max_during", f"{1000 * max(during):.1f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregates", type=int, default=200_000, help="(200000)")
    parser.add_argument("--before-s", type=float, default=2.0, help="writes before (2 s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return payments.run_in_scratch(measure, parse_args(argv), "paysource-seal-")


if __name__ == "__main__":
    raise SystemExit(main())
