"""CPU of inserting events, with their parameter sent as text (eventsourcing's own
statement) and in binary (what paysource's event store sends, application/eventlog.py).

    ./.venv/bin/python bench/insert_format.py [--batches 300] [--events 16]

Starts a throwaway Postgres, inserts `--batches` saves of `--events` ~600-byte events
with each statement, twice each, alternating, and prints this process's CPU per event
(`name=value` lines on stdout). Only the client's CPU is measured: the dumping of the
parameter, which is where the formats differ.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from uuid import uuid4

import payments
import readside
from eventsourcing.persistence import StoredEvent
from payments import figure
from psycopg.sql import SQL

from paysource.adapters.postgres.migrations import migrate
from paysource.bootstrap import build_cell
from paysource.config import MIGRATIONS_DIR

TOPIC = "paysource.domain.payment:Payment.Created"
STATE = b'{"amount_minor": 1000, "currency": "USD", "note": "' + b"x" * 560 + b'"}'


def measure(args: argparse.Namespace, work: Path) -> None:
    with contextlib.ExitStack() as stack:
        servers = payments.services(stack, work, durable=False)
        migrate(servers.db_url, MIGRATIONS_DIR)
        recorder = build_cell(readside.cell_settings(servers), servers.db_url).store.recorder
        binary = recorder.insert_events_statement  # type: ignore[attr-defined]
        text = SQL(binary.as_string(None).replace("%b::", "%s::"))
        for round_ in (1, 2):
            for name, statement in (("text", text), ("binary", binary)):
                recorder.insert_events_statement = statement  # type: ignore[attr-defined]
                started = time.process_time()
                for _ in range(args.batches):
                    recorder.insert_events(
                        [StoredEvent(uuid4(), 1, TOPIC, STATE) for _ in range(args.events)]
                    )
                per_event = (time.process_time() - started) / (args.batches * args.events)
                figure(f"{name}_cpu_ms_per_event_{round_}", f"{1000 * per_event:.4f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300, help="saves per measurement (300)")
    parser.add_argument("--events", type=int, default=16, help="events per save (16)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return payments.run_in_scratch(measure, parse_args(argv), "paysource-inserts-")


if __name__ == "__main__":
    raise SystemExit(main())
