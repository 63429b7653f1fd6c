"""A failover under load (issue 15): pg_auto_failover on loopback — a monitor, a primary
and a secondary, started here — while payments stream in through the API, which
connects with a multi-host URL (`target_session_attrs=read-write`).

`pg_autoctl perform switchover`, then kill -9 of the new primary: every payment the API
acknowledged with a 2xx is in the log afterwards, none twice, and the API serves
payments again within 30 s of the kill. A client retries a 503 with the same
Idempotency-Key, as docs/api.md tells it to.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from devtools.localfailover import LocalFailover
from paysource.adapters.postgres.migrations import migrate
from paysource.application.ids import Kind, decode
from paysource.bootstrap import build_container
from paysource.config import MIGRATIONS_DIR, Settings
from tests.conftest import ADMIN_KEY
from tests.helpers import live_server

pytestmark = pytest.mark.slow

RECOVERY_S = 30


@pytest.fixture(scope="module")
def formation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFailover]:
    with LocalFailover.start(tmp_path_factory.mktemp("paf")) as started:
        migrate(started.url, MIGRATIONS_DIR)
        yield started


@dataclass
class Load:
    """Payments one after another; each retried with its key until acknowledged."""

    url: str
    api_key: str
    stop: threading.Event = field(default_factory=threading.Event)
    acked: dict[str, str] = field(default_factory=dict)  # key -> payment id
    acked_at: list[float] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)  # statuses of refused attempts

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                self._until_acked(client, f"failover-{n}", 1000 + n)

    def _until_acked(self, client: httpx.Client, key: str, amount: int) -> None:
        deadline = time.monotonic() + 90
        body = {"amount": amount, "currency": "USD", "source": "tok_visa"}
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": key}
        while time.monotonic() < deadline:
            try:
                answer = client.post("/v1/payments", json=body, headers=headers)
            except httpx.TransportError:
                self.refusals.append(0)
            else:
                if answer.is_success:
                    self.acked[key] = answer.json()["id"]
                    self.acked_at.append(time.monotonic())
                    return
                if answer.status_code != 429:  # over the merchant's 200/s: not a failover's
                    assert answer.status_code in (409, 503), answer.text  # in progress, or down
                    self.refusals.append(answer.status_code)
            time.sleep(0.2)
        raise AssertionError(f"{key} was never acknowledged")


def wait_for_acks(load: Load, after: float, count: int, timeout_s: float) -> float:
    """The time of the `count`th acknowledgement after `after`."""
    deadline = after + timeout_s
    while time.monotonic() < deadline:
        later = [at for at in load.acked_at if at > after]
        if len(later) >= count:
            return later[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} payments acknowledged within {timeout_s} s")


def wait_for_promotion(formation: LocalFailover, killed: object) -> float:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if formation.primary() is not killed:
                return time.monotonic()
        except Exception:  # noqa: BLE001  # no primary yet, or the monitor is busy
            pass
        time.sleep(0.2)
    raise AssertionError("the monitor promoted no one")


def test_every_acknowledged_payment_survives_a_switchover_and_a_primary_kill_once(
    settings: Settings, formation: LocalFailover
) -> None:
    container = build_container(settings.model_copy(update={"database_url": formation.url}))
    try:
        with live_server(container) as url, httpx.Client(base_url=url, timeout=10) as client:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            merchant = client.post("/v1/merchants", json={"name": "F"}, headers=admin)
            assert merchant.status_code == 201, merchant.text
            load = Load(url, merchant.json()["api_key"])
            thread = threading.Thread(target=load.run, name="failover-load")
            thread.start()
            try:
                wait_for_acks(load, time.monotonic(), 10, 30)
                formation.switchover()
                formation.wait_until_stable(2)
                wait_for_acks(load, time.monotonic(), 10, RECOVERY_S)

                killed = formation.primary()
                killed_at = time.monotonic()
                formation.kill(killed)
                promoted_at = wait_for_promotion(formation, killed)
                recovered_at = wait_for_acks(load, killed_at, 1, RECOVERY_S + 30)
            finally:
                load.stop.set()
                thread.join(timeout=120)
    finally:
        container.close()

    timeline = f"promoted after {promoted_at - killed_at:.1f} s"
    assert recovered_at - killed_at <= RECOVERY_S, timeline
    ids = [decode(Kind.PAYMENT, payment) for payment in load.acked.values()]
    with psycopg.connect(formation.url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM paysource_events"
            " WHERE originator_version = 1 AND originator_id = ANY(%s)",
            (ids,),
        ).fetchone()
        created = conn.execute(
            "SELECT count(*) FROM paysource_events WHERE topic LIKE %s", ("%Payment.Created",)
        ).fetchone()
    assert stored is not None
    assert created is not None
    assert stored[0] == len(ids) == len(set(ids))  # every acknowledged payment is kept
    assert created[0] == len(load.acked)  # one payment per key: none twice
    assert load.refusals, "the failovers were not felt: the test proved nothing"
