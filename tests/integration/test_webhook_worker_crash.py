"""kill -9 of webhook worker processes while payments flow: no webhook event is lost.

Two `python -m paysource.entrypoints.webhook_worker` processes run the outbox and
the delivery lanes; the test kills one with SIGKILL at random moments and starts
another. A receiver on 127.0.0.1 (failing now and then, to exercise retries)
records what arrives. At the end every state change of the log has reached it,
signed, at least once; and each was queued exactly once.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from paysource.application.webhooks.catalog import standard_catalog, webhook_event_id
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.webhook_signature import verify
from tests.helpers import drain
from tests.integration.test_webhook_delivery import (
    SIGNING_KEY,
    Receiver,
    WebhookWorld,
    open_world,
)
from tests.integration.test_worker_crash import wait_until, worker_env

PAYMENTS = 40


def webhook_worker_env(settings: Settings) -> dict[str, str]:
    return {
        **worker_env(settings),
        "PAYSOURCE_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        "PAYSOURCE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "PAYSOURCE_WEBHOOK_RETRY_BASE_DELAY_S": "0.05",
        "PAYSOURCE_WEBHOOK_RETRY_MAX_DELAY_S": "0.3",
        "PAYSOURCE_WEBHOOK_POLL_INTERVAL_S": "0.02",
        "PAYSOURCE_WEBHOOK_CONNECT_TIMEOUT_S": "0.5",
        "PAYSOURCE_WEBHOOK_READ_TIMEOUT_S": "0.5",
        "PAYSOURCE_WEBHOOK_LEASE_S": "2",
        "PAYSOURCE_WEBHOOK_DELIVERY_LANES": "2",
        "PAYSOURCE_WORKER_BATCH_SIZE": "5",
    }


class WebhookWorkers:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.env = webhook_worker_env(settings)
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.kills = 0

    def start(self) -> None:
        log = (self.log_dir / f"webhook-worker-{len(self.processes)}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "paysource.entrypoints.webhook_worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def kill_one(self, rng: random.Random) -> None:
        alive = [p for p in self.processes if p.poll() is None]
        if alive:
            victim = rng.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            self.kills += 1

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.processes)

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
def workers(settings: Settings, tmp_path: Path) -> Iterator[WebhookWorkers]:
    running = WebhookWorkers(settings, tmp_path)
    yield running
    running.stop_all()


@pytest.fixture
def world(container: Container) -> Iterator[WebhookWorld]:
    with open_world(container) as opened:
        yield opened


def expected_event_ids(world: WebhookWorld) -> set[str]:
    catalog = standard_catalog()
    return {
        f"evt_{webhook_event_id(event.originator_id, event.originator_version).hex}"
        for _, event in world.cell.store.select(after=0, limit=100_000)
        if catalog.lookup(event) is not None
    }


@pytest.mark.slow
def test_killing_webhook_workers_mid_run_loses_no_webhook_event(
    world: WebhookWorld, workers: WebhookWorkers
) -> None:
    rng = random.Random(5309)
    # One request in seven fails: retries and leases are part of what gets killed.
    with Receiver(lambda headers, body: 500 if rng.random() < 1 / 7 else 200) as receiver:
        _, secret = world.register(receiver.url, ["*"])
        workers.start()
        workers.start()
        done = threading.Event()

        def produce() -> None:
            for number in range(PAYMENTS):
                world.pay(token="tok_decline" if number % 9 == 0 else "tok_visa")
                if number % 5 == 4:
                    drain(world.container)
                time.sleep(0.02)
            drain(world.container)
            done.set()

        producer = threading.Thread(target=produce)
        producer.start()
        while not done.is_set():
            time.sleep(rng.uniform(0.2, 0.6))
            workers.kill_one(rng)
            workers.start()
        producer.join()
        assert workers.kills >= 3

        expected = expected_event_ids(world)
        arrived = lambda: {r.event["id"] for r in receiver.delivered()}  # noqa: E731
        wait_until(lambda: arrived() >= expected, 90, "every webhook event to arrive")

    assert len(expected) >= 2 * PAYMENTS
    assert arrived() == expected, "nothing lost, nothing invented"
    for received in receiver.delivered():
        verify(received.body, received.headers["paysource-signature"], secret, tolerance=600)
    queued = Counter(d["event_id"] for d in world.deliveries())
    assert len(queued) == len(expected)
    assert set(queued.values()) == {1}, "each state change was queued exactly once"
