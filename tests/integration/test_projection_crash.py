"""kill -9 of the projection process at 30 random moments while payments and refunds
flow: after catch-up every read model equals a full replay (nothing lost, nothing
applied twice)."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from paysource.application.errors import ApplicationError
from paysource.application.payments import NewPayment
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.domain.errors import DomainError
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.maintenance import status, verify
from tests.integration.test_worker_crash import wait_until, worker_env

KILLS = 30


def start_worker(settings: Settings, *flags: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "paysource", "worker", *flags],
        env=worker_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killing_the_projection_process_30_times_loses_and_doubles_nothing(
    container: Container, settings: Settings
) -> None:
    rng = random.Random(305)
    outcome, _ = container.merchants.register_merchant(
        name="Acme",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        idempotency_key=None,
        request_hash="h",
        meta=Meta(ActorKind.ADMIN, "t"),
    )
    merchant = outcome.value.id
    cell = container.router.for_merchant(merchant)
    processor = start_worker(settings, "--no-projections")
    projections = start_worker(settings, "--no-processor")
    stop = threading.Event()

    def flow() -> None:
        meta = Meta(ActorKind.MERCHANT, str(merchant))
        number = 0
        while not stop.is_set():
            number += 1
            payment = cell.payments.create_payment(
                NewPayment(
                    merchant_id=merchant,
                    idempotency_key=f"p{number}",
                    request_hash=str(number),
                    amount=Money(1000 + number, "USD"),
                    source="tok_refund_fail" if number % 9 == 0 else "tok_visa",
                    capture_method=CaptureMethod.AUTOMATIC,
                    meta=meta,
                )
            ).value
            if number > 5:
                with contextlib.suppress(DomainError, ApplicationError):
                    cell.refunds.create_refund(
                        merchant_id=merchant,
                        payment_id=payment.id,
                        amount=Money(100, "USD"),
                        reason=None,
                        idempotency_key=f"r{number - 5}",
                        request_hash=str(number),
                        meta=meta,
                    )
            time.sleep(0.01)

    producer = threading.Thread(target=flow)
    producer.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.05, 0.6))
            projections.send_signal(signal.SIGKILL)
            projections.wait()
            projections = start_worker(settings, "--no-processor")
    finally:
        stop.set()
        producer.join()

    try:
        wait_until(
            lambda: all(s.lag_events == 0 for s in status(cell.store, cell.read.datastore)),
            120,
            "the projections to catch up",
        )
    finally:
        for process in (processor, projections):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    for name in PROJECTIONS:
        assert verify(name, cell.store, cell.read.datastore) == [], name
    captured = cell.read.payments.list_payments(merchant_id=merchant, limit=100, status="succeeded")
    assert len(captured.rows) == 100, "payments flowed through the killed projections"
    (balance,) = cell.read.ledger.balances(merchant)
    assert balance["available_minor"] > 0
