"""CPU of the payment notifier's Redis publishing: one PUBLISH per message (as it was) and
a follower batch's messages in one pipelined round trip (adapters/redis/publisher.py).

    ./.venv/bin/python bench/notifier_publish.py [--payments 1000] [--batch 33]

Starts a throwaway Redis, publishes `--payments` payments' worth of changes (5 messages
each: Created on three channels, Authorized and Captured on one) both ways, twice each,
alternating, and prints this process's CPU and wall time per payment (`name=value` lines
on stdout). `--batch` is payments per follower batch (the worker's default batch is 100
events, about 33 payments).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

import payments
from payments import figure

from paysource.adapters.redis.publisher import RedisChannels

MESSAGE = b'{"payment": "' + b"0" * 32 + b'", "version": 1, "event": "Payment.Created"}'
PER_PAYMENT = 5


def measure(args: argparse.Namespace, work: Path) -> None:
    with contextlib.ExitStack() as stack:
        servers = payments.services(stack, work, durable=False)
        batched = RedisChannels(servers.redis_url).publish
        single = RedisChannels(servers.redis_url).publish

        def one_by_one(messages: Sequence[tuple[str, bytes]]) -> None:
            for message in messages:
                single([message])

        batch = [(f"payment:{i}", MESSAGE) for i in range(args.batch * PER_PAYMENT)]
        batches = max(1, args.payments // args.batch)
        count = batches * args.batch  # payments published each way
        for round_ in (1, 2):
            for name, publish in (("single", one_by_one), ("batched", batched)):
                started, wall = time.process_time(), time.perf_counter()
                for _ in range(batches):
                    publish(batch)
                cpu, elapsed = time.process_time() - started, time.perf_counter() - wall
                figure(f"{name}_cpu_ms_per_payment_{round_}", f"{1000 * cpu / count:.4f}")
                figure(f"{name}_wall_ms_per_payment_{round_}", f"{1000 * elapsed / count:.4f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000, help="payments (1000)")
    parser.add_argument("--batch", type=int, default=33, help="payments per batch (33)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return payments.run_in_scratch(measure, parse_args(argv), "paysource-publish-")


if __name__ == "__main__":
    raise SystemExit(main())
