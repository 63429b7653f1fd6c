"""Two `paysource worker` processes share the jobs, and a killed one's move to the other
within seconds, with nothing applied twice."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from uuid import UUID

import pytest

from paysource.application.idempotency import fingerprint
from paysource.application.payments import NewPayment
from paysource.bootstrap import Cell, Container
from paysource.config import Settings
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod
from paysource.entrypoints.worker import job_statuses
from paysource.readmodels import maintenance
from paysource.readmodels.catalog import PROJECTIONS
from tests.integration.test_projection_crash import start_worker
from tests.integration.test_worker_crash import (
    assert_acquirer_did_each_thing_once,
    wait_until,
    worker_env,
)


@pytest.fixture
def two_workers(settings: Settings) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = [start_worker(settings), start_worker(settings)]
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=20)


def held_by(container: Container) -> Counter[str]:
    """How many jobs each holder (`<host>:<pid>`, "-" for nobody) has now."""
    return Counter(status.held_by for status in job_statuses(container))


def shared_evenly(container: Container, workers: int) -> bool:
    counts = held_by(container)
    if "-" in counts or len(counts) != workers:
        return False
    return max(counts.values()) - min(counts.values()) <= 1


def pid_of(holder: str) -> int:
    return int(holder.rsplit(":", 1)[1])


def pay(cell: Cell, merchant_id: UUID, number: int) -> UUID:
    return cell.payments.create_payment(
        NewPayment(
            merchant_id=merchant_id,
            idempotency_key=f"pay-{number}",
            request_hash=fingerprint("POST", "/v1/payments", {"n": number}),
            amount=Money(1000 + number, "USD"),
            source="tok_visa",
            capture_method=CaptureMethod.AUTOMATIC,
            meta=Meta(ActorKind.MERCHANT, str(merchant_id)),
        )
    ).value.id


def merchant(container: Container) -> UUID:
    outcome, _ = container.merchants.register_merchant(
        name="Acme",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        idempotency_key=None,
        request_hash="x",
        meta=Meta(ActorKind.ADMIN, "test"),
    )
    return outcome.value.id


@pytest.mark.slow
def test_two_workers_share_the_jobs_and_a_killed_ones_move_within_five_seconds(
    container: Container, settings: Settings, two_workers: list[subprocess.Popen[bytes]]
) -> None:
    merchant_id = merchant(container)
    cell = container.router.for_merchant(merchant_id)
    wait_until(lambda: shared_evenly(container, 2), 30, "both workers to hold their share")
    assert {pid_of(h) for h in held_by(container)} == {p.pid for p in two_workers}
    listed = subprocess.run(
        [sys.executable, "-m", "paysource", "jobs"],
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert all(f":{process.pid}" in listed for process in two_workers), listed

    payment_ids: list[UUID] = []
    flowing = threading.Event()

    def flow() -> None:
        for number in range(120):
            payment_ids.append(pay(cell, merchant_id, number))
            if number == 20:
                flowing.set()
            time.sleep(0.01)

    producer = threading.Thread(target=flow)
    producer.start()
    flowing.wait(30)
    victim, survivor = two_workers
    victim.kill()
    victim.wait(timeout=20)
    killed = time.monotonic()
    wait_until(
        lambda: (
            {pid_of(h) for h in held_by(container) if h != "-"} == {survivor.pid}
            and "-" not in held_by(container)
        ),
        10,
        "the survivor to hold every job",
    )
    moved_after_s = time.monotonic() - killed
    producer.join()

    assert moved_after_s <= 5.0, moved_after_s

    def all_final() -> bool:
        return all(
            cell.payments.get_payment(merchant_id=merchant_id, payment_id=p).is_final
            for p in payment_ids
        )

    wait_until(all_final, 60, "every payment to reach a final status")
    assert_acquirer_did_each_thing_once(cell, payment_ids, settings)
    for name in PROJECTIONS:
        wait_until(lambda n=name: caught_up(cell, n), 30, f"projection {name} to catch up")
        assert maintenance.verify(name, cell.store, cell.read.datastore) == [], name


def caught_up(cell: Cell, name: str) -> bool:
    found = [s for s in maintenance.status(cell.store, cell.read.datastore) if s.name == name]
    return bool(found) and found[0].lag_events == 0
