"""kill -9 of worker processes while payments flow: nothing is lost, nothing is doubled.

Worker processes run the real `paysource worker` command. The acquirer simulator
records every operation in Postgres by idempotency key, so the test can count, per
payment, what the acquirer actually did across every killed process.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from uuid import UUID

import pytest

from paysource.adapters.acquirer_sim import PostgresLedger, SimulatedAcquirer
from paysource.application.errors import ConcurrentModification
from paysource.application.idempotency import fingerprint
from paysource.application.payments import NewPayment
from paysource.bootstrap import Cell, Container
from paysource.config import Settings
from paysource.domain.errors import DomainError
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment
from tests.conftest import TEST_ENVIRONMENT

TOKENS = ["tok_visa"] * 6 + ["tok_mastercard", "tok_decline", "tok_insufficient_funds", "tok_risk"]


def worker_env(settings: Settings) -> dict[str, str]:
    assert settings.database_url
    assert settings.redis_url
    return {
        **os.environ,
        **TEST_ENVIRONMENT,
        "PAYSOURCE_DATABASE_URL": settings.database_url,
        "PAYSOURCE_REDIS_URL": settings.redis_url,
        "PAYSOURCE_ACQUIRER_LATENCY_MS": "3",
        "PAYSOURCE_FOLLOWER_POLL_INTERVAL_S": "0.05",
        "PAYSOURCE_WORKER_BATCH_SIZE": "20",
        "PAYSOURCE_LOG_LEVEL": "WARNING",
    }


class Workers:
    """Two `paysource worker` processes, killed with SIGKILL and restarted at random."""

    def __init__(self, settings: Settings) -> None:
        self.env = worker_env(settings)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.kills = 0

    def start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "paysource", "worker"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def kill_one(self, rng: random.Random) -> None:
        alive = [p for p in self.processes if p.poll() is None]
        if alive:
            victim = rng.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            self.kills += 1

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def workers(settings: Settings) -> Iterator[Workers]:
    running = Workers(settings)
    yield running
    running.stop_all()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_killing_workers_mid_stream_loses_and_doubles_nothing(
    container: Container, settings: Settings, workers: Workers
) -> None:
    rng = random.Random(1234)
    admin = Meta(ActorKind.ADMIN, "test")
    outcome, _ = container.merchants.register_merchant(
        name="Acme",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        idempotency_key=None,
        request_hash="x",
        meta=admin,
    )
    merchant_id = outcome.value.id
    cell = container.router.for_merchant(merchant_id)
    workers.start()
    workers.start()

    payment_ids: list[UUID] = []
    refunds: list[UUID] = []
    stop = threading.Event()

    def flow() -> None:
        for number in range(240):
            payment = cell.payments.create_payment(
                NewPayment(
                    merchant_id=merchant_id,
                    idempotency_key=f"pay-{number}",
                    request_hash=fingerprint("POST", "/v1/payments", {"n": number}),
                    amount=Money(1000 + number, "USD"),
                    source=TOKENS[number % len(TOKENS)],
                    capture_method=CaptureMethod.AUTOMATIC,
                    meta=Meta(ActorKind.MERCHANT, str(merchant_id)),
                )
            ).value
            payment_ids.append(payment.id)
            refunds.extend(try_refund(cell, merchant_id, rng.choice(payment_ids), number))
            time.sleep(0.005)
        stop.set()

    producer = threading.Thread(target=flow)
    producer.start()
    while not stop.is_set():
        time.sleep(rng.uniform(0.1, 0.4))
        workers.kill_one(rng)
        workers.start()
    producer.join()
    assert workers.kills >= 5

    def all_final() -> bool:
        payments = [
            cell.payments.get_payment(merchant_id=merchant_id, payment_id=p) for p in payment_ids
        ]
        pending = [cell.refunds.get_refund(merchant_id=merchant_id, refund_id=r) for r in refunds]
        return all(p.is_final for p in payments) and all(r.status != "pending" for r in pending)

    wait_until(all_final, 120, "every payment and refund to reach a final status")
    assert_acquirer_did_each_thing_once(cell, payment_ids, settings)


def try_refund(cell: Cell, merchant_id: UUID, payment_id: UUID, number: int) -> list[UUID]:
    """Refund a little of a payment if it is captured by now (refunds join the stream)."""
    try:
        refund = cell.refunds.create_refund(
            merchant_id=merchant_id,
            payment_id=payment_id,
            amount=Money(100, "USD"),
            reason=None,
            idempotency_key=f"refund-{number}",
            request_hash=str(number),
            meta=Meta(ActorKind.MERCHANT, str(merchant_id)),
        ).value
    except (DomainError, ConcurrentModification):
        return []
    return [refund.id]


def assert_acquirer_did_each_thing_once(
    cell: Cell, payment_ids: list[UUID], settings: Settings
) -> None:
    assert settings.database_url
    acquirer = SimulatedAcquirer(PostgresLedger(settings.database_url))
    for payment_id in payment_ids:
        payment = cell.store.get(payment_id, Payment)
        assert payment is not None
        operations = Counter(op.kind for op in acquirer.operations(payment_id))
        risk_blocked = payment.cancellation_reason == "risk"
        assert operations["authorize"] == (0 if risk_blocked else 1), (payment_id, operations)
        assert operations["capture"] == (1 if payment.status == "succeeded" else 0), operations
        assert operations["void"] == 0
        events = [type(e).__name__ for e in cell.store.history(payment_id)]
        assert events.count("Authorized") <= 1, events
        assert events.count("Captured") <= 1, events
        assert payment.pending_refunds == {}, "no refund is left pending"
        refund_ops = [op for op in acquirer.operations(payment_id) if op.kind == "refund"]
        assert len(refund_ops) == len({op.key for op in refund_ops})
        assert sum(op.amount_minor for op in refund_ops if op.result["succeeded"]) == (
            payment.amount_refunded
        )


def test_changing_the_partition_count_does_not_relay_history_again(
    container: Container, settings: Settings
) -> None:
    from paysource.adapters.postgres.datastore import seed_partitions  # noqa: PLC0415
    from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up  # noqa: PLC0415
    from paysource.processes.pipeline import PaymentProcessor  # noqa: PLC0415
    from tests.helpers import drain  # noqa: PLC0415

    outcome, _ = container.merchants.register_merchant(
        name="Acme",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        idempotency_key=None,
        request_hash="x",
        meta=Meta(ActorKind.ADMIN, "t"),
    )
    cell = container.router.for_merchant(outcome.value.id)
    ids = [
        cell.payments.create_payment(
            NewPayment(
                merchant_id=outcome.value.id,
                idempotency_key=f"p{n}",
                request_hash=str(n),
                amount=Money(1000 + n, "USD"),
                source="tok_visa",
                capture_method=CaptureMethod.AUTOMATIC,
                meta=Meta(ActorKind.MERCHANT, "m"),
            )
        ).value.id
        for n in range(6)
    ]
    drain(container)  # one partition: processor-0-of-1
    assert settings.database_url
    names = [PaymentProcessor.partition_name(p, 3) for p in range(3)]

    start = seed_partitions(settings.database_url, prefix="processor-", names=names)
    for partition in range(3):
        processor = PaymentProcessor(
            cell.store,
            container.acquirer,
            cell.read.payments,
            container.clock,
            partition=partition,
            partitions=3,
        )
        run_until_caught_up(Follower(cell.store, processor, wakeup=Wakeup()))

    assert start == cell.store.position("processor-0-of-1")
    acquirer = SimulatedAcquirer(PostgresLedger(settings.database_url))
    for payment_id in ids:
        operations = acquirer.operations(payment_id)
        assert operations, "every payment reached the acquirer"
        assert all(op.requests == 1 for op in operations)
