"""kill -9 of worker processes while settlements are paid out: no settlement is paid
twice (the bank simulator counts payouts per settlement) and none is left unpaid."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from paysource.adapters.bank_sim import SimulatedBank
from paysource.application.payments import NewPayment
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment, PaymentStatus
from paysource.domain.settlement import Settlement, SettlementStatus
from tests.integration.test_worker_crash import wait_until, worker_env

MERCHANTS = 24


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **worker_env(settings),
        "PAYSOURCE_BANK_LATENCY_MS": "40",  # widens the window between payout and commit
        "PAYSOURCE_SETTLEMENT_SCHEDULE": "off",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "paysource", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def register(container: Container, number: int) -> UUID:
    outcome, _ = container.merchants.register_merchant(
        name=f"M{number}",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        idempotency_key=None,
        request_hash=str(number),
        meta=Meta(ActorKind.ADMIN, "t"),
    )
    return outcome.value.id


@pytest.mark.slow
def test_killing_payout_workers_never_pays_a_settlement_twice(
    container: Container, settings: Settings
) -> None:
    rng = random.Random(7)
    cell = container.router.all()[0]
    merchants = [register(container, n) for n in range(MERCHANTS)]
    payments = [
        cell.payments.create_payment(
            NewPayment(
                merchant_id=merchant,
                idempotency_key=f"{merchant}-{amount}",
                request_hash="h",
                amount=Money(amount, "USD"),
                source="tok_visa",
                capture_method=CaptureMethod.AUTOMATIC,
                meta=Meta(ActorKind.MERCHANT, str(merchant)),
            )
        ).value.id
        for merchant in merchants
        for amount in (2_000, 3_500)
    ]
    worker = start_worker(settings)
    try:
        wait_until(
            lambda: (
                all(
                    (p := cell.store.get(pid, Payment)) is not None
                    and p.status is PaymentStatus.SUCCEEDED
                    for pid in payments
                )
                and cell.read.settlements.due(until=datetime.now(UTC)) != []
            ),
            60,
            "payments to be captured and settleable",
        )
        wait_until(
            lambda: len(cell.read.settlements.due(until=datetime.now(UTC))) == MERCHANTS,
            60,
            "every merchant to have settleable items",
        )
        cutoff = datetime.now(UTC) + timedelta(seconds=1)
        settlements = [
            cell.settlements.close(
                merchant_id=m, currency="USD", until=cutoff, meta=Meta(ActorKind.ADMIN, "t")
            ).value.id
            for m in merchants
        ]
        for _ in range(8):
            time.sleep(rng.uniform(0.05, 0.4))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            worker = start_worker(settings)

        def all_paid() -> bool:
            found = [cell.store.get(s, Settlement) for s in settlements]
            return all(s is not None and s.status is SettlementStatus.PAID for s in found)

        wait_until(all_paid, 90, "every settlement to be paid")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    assert isinstance(container.bank, SimulatedBank)
    paid = [p for p in container.bank.payouts() if p["status"] == "paid"]
    assert sorted(p["key"] for p in paid) == sorted(f"{s}:payout" for s in settlements)
    for settlement_id in settlements:
        settlement = cell.store.get(settlement_id, Settlement)
        assert settlement is not None
        (record,) = [p for p in paid if p["key"] == f"{settlement_id}:payout"]
        assert record["amount_minor"] == settlement.net_minor
