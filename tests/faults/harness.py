"""The fault suite's parts: a deployment as production runs it, a load, and the books.

`Deployment` runs `paysource serve --no-worker` and a separate `paysource worker` on the
suite's own Postgres and Redis. `Load` drives the API from a few threads on 127.0.0.1
(payments, reads, refunds on about a quarter of them) and retries every 503 with the
same Idempotency-Key until it is acknowledged, as a client is told to. `check_books`
then asserts what issue 12 asks of every fault: nothing acknowledged lost, nothing
doubled, read models equal to a replay, a balanced ledger, every answer in time.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from devtools.localservices import free_port
from paysource.adapters.postgres.datastore import datastore, eventsourcing_env
from paysource.application.eventlog import EventStore
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.maintenance import verify
from tests.conftest import ADMIN_KEY, TEST_ENVIRONMENT

ANSWER_BUDGET_S = 2.5  # issue 12: every answer, 2xx or 503, within this
ACKNOWLEDGED = {200, 201, 202}
RETRY = {503, 409, 429}  # what a client is told to retry with the same key


class Deployment:
    """The API and one worker as separate processes, logging into `logs`."""

    def __init__(self, database_url: str, redis_url: str, logs: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.database_log: Path | None = None  # Postgres's own, for `why`
        self.env = {
            **os.environ,
            **TEST_ENVIRONMENT,
            "PAYSOURCE_DATABASE_URL": database_url,
            "PAYSOURCE_REDIS_URL": redis_url,
            "PAYSOURCE_ACQUIRER_LATENCY_MS": "3",
            "PAYSOURCE_FOLLOWER_POLL_INTERVAL_S": "0.1",
            "PAYSOURCE_LOG_LEVEL": "WARNING",
        }
        self.api = self._spawn("serve", "--no-worker", "--port", str(self.port))
        self.worker = self._spawn("worker")
        self._wait_for_api()

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{args[0]}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "paysource", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _wait_for_api(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.api.poll() is None, self.log("serve")[-4000:]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)

    def kill_worker(self) -> None:
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()

    def start_worker(self) -> None:
        self.worker = self._spawn("worker")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def why(self, failed: list[Answer]) -> str:
        """What a failing assertion shows: the failures, and the ends of both logs."""
        shown = "\n".join(f"{a.what} {a.status} {a.seconds:.2f} s: {a.problem}" for a in failed[:5])
        logs = "".join(
            f"\n--- {name}.log\n{self.log(name)[-3000:]}" for name in ("serve", "worker")
        )
        if self.database_log is not None:
            lines = self.database_log.read_text(errors="replace").splitlines()
            waits = [line for line in lines if "lock" in line.lower() or "DETAIL" in line]
            logs += "\n--- Postgres, lock waits\n" + "\n".join(waits[-20:])
        return shown + logs

    def stop(self) -> None:
        for process in (self.api, self.worker):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in (self.api, self.worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def new_merchant(base: str) -> str:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    response = httpx.post(f"{base}/v1/merchants", json={"name": "Faults"}, headers=admin)
    assert response.status_code == 201, response.text
    return str(response.json()["api_key"])


@dataclass(frozen=True)
class Answer:
    what: str
    status: int
    seconds: float
    at: float  # time.monotonic() when the answer came
    retry_after: str | None
    problem: str = ""  # a failure's problem+json `type` and `detail`, to say why


@dataclass
class Load:
    """Client threads on the API until `stop()`; each finishes its current operation."""

    base: str
    api_key: str
    threads: int = 4
    answers: list[Answer] = field(default_factory=list)
    payments: dict[str, int] = field(default_factory=dict)  # pay_… id -> amount
    refunds: dict[str, tuple[str, int]] = field(default_factory=dict)  # re_… -> payment, amount
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _running: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for number in range(self.threads):
            thread = threading.Thread(target=self._run, args=(number,), daemon=True)
            thread.start()
            self._running.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._running:
            thread.join(timeout=90)
        assert not any(thread.is_alive() for thread in self._running), "load did not stop"

    def _run(self, number: int) -> None:
        rng = random.Random(number)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=15) as client:
            try:
                while not self._stop.is_set():
                    self._pay(client, rng)
                    if rng.random() < 0.25:
                        self._refund(client, rng)
            except Exception as error:  # noqa: BLE001  # reported by check_books
                self.failures.append(f"thread {number}: {error!r}")

    def _pay(self, client: httpx.Client, rng: random.Random) -> None:
        amount = rng.randrange(500, 5000)
        body = {"amount": amount, "currency": "USD", "source": "tok_visa"}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        response = self._until_acknowledged(
            "pay", lambda: client.post("/v1/payments", json=body, headers=key)
        )
        if response is not None:
            self.payments[response.json()["id"]] = amount

    def _refund(self, client: httpx.Client, rng: random.Random) -> None:
        if not self.payments:
            return
        payment_id = rng.choice(list(self.payments))
        found = self._timed("get", lambda: client.get(f"/v1/payments/{payment_id}"))
        if found.status_code != 200 or found.json()["status"] != "succeeded":
            return
        body = {"payment": payment_id, "amount": 100}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        response = self._until_acknowledged(
            "refund", lambda: client.post("/v1/refunds", json=body, headers=key)
        )
        if response is not None:
            self.refunds[response.json()["id"]] = (payment_id, 100)

    def _until_acknowledged(
        self, what: str, send: Callable[[], httpx.Response]
    ) -> httpx.Response | None:
        """Retry with the same key until 2xx; None for a final refusal (422: no funds)."""
        give_up = time.monotonic() + 120
        while time.monotonic() < give_up:
            response = self._timed(what, send)
            if response.status_code in ACKNOWLEDGED:
                return response
            if response.status_code not in RETRY:
                assert response.status_code == 422, response.text
                return None
            time.sleep(min(0.2, float(response.headers.get("retry-after", "1"))))
        raise AssertionError(f"{what}: not acknowledged within 120 s")

    def _timed(self, what: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        started = time.monotonic()
        response = send()
        done = time.monotonic()
        retry_after = response.headers.get("retry-after")
        problem = "" if response.is_success else response.text[:300]
        answer = Answer(what, response.status_code, done - started, done, retry_after, problem)
        self.answers.append(answer)
        return response

    def summary(self) -> str:
        """One line for the test's output (pytest -s) and docs/operations.md."""
        seconds = sorted(a.seconds for a in self.answers)
        unavailable = sum(a.status == 503 for a in self.answers)
        return (
            f"{len(self.answers)} answers, {unavailable} of them 503; slowest"
            f" {seconds[-1]:.2f} s, p99 {seconds[int(len(seconds) * 0.99)]:.3f} s;"
            f" {len(self.payments)} payments, {len(self.refunds)} refunds acknowledged"
        )

    def last_unavailable_after(self, moment: float) -> float | None:
        """Seconds from `moment` to the last 503 answered after it (None: no such 503)."""
        late = [a.at for a in self.answers if a.status == 503 and a.at > moment]
        return max(late) - moment if late else None


def steady_after_s(load: Load, moment: float) -> str:
    late = load.last_unavailable_after(moment)
    served = [a.at - moment for a in load.answers if a.status in ACKNOWLEDGED and a.at > moment]
    first = f"first 2xx {min(served):.2f} s after Postgres was back" if served else "no 2xx"
    last = "before it was back" if late is None else f"{late:.2f} s after it was back"
    return f"{first}; last 503 {last}"


def check_answers(load: Load) -> None:
    assert not load.failures, load.failures
    assert load.payments, "the load made no payment"
    slow = [a for a in load.answers if a.seconds > ANSWER_BUDGET_S]
    assert not slow, f"{len(slow)} answers over {ANSWER_BUDGET_S} s, e.g. {slow[:3]}"
    unavailable = [a for a in load.answers if a.status == 503]
    assert all(a.retry_after for a in unavailable), "a 503 without Retry-After"


def check_books(load: Load, database_url: str) -> None:
    """Nothing lost, nothing doubled, read models equal to a replay, ledger balanced."""
    check_answers(load)
    _wait_until_settled(database_url, len(load.payments), len(load.refunds))
    rows = _query(database_url, "SELECT id::text, amount_minor FROM payments")
    stored = {row[0]: int(row[1]) for row in rows}
    acknowledged = {_uuid(pay_id): amount for pay_id, amount in load.payments.items()}
    assert stored == acknowledged  # the same ids and amounts: none lost, none extra
    created_topic = ("%Payment.Created",)
    created = _query(
        database_url, "SELECT count(*) FROM paysource_events WHERE topic LIKE %s", created_topic
    )
    assert created[0][0] == len(acknowledged)  # the log itself: one payment per key
    refunds = _query(database_url, "SELECT id::text, amount_minor FROM refunds")
    assert {row[0] for row in refunds} == {_uuid(r) for r in load.refunds}
    _check_ledger(database_url)
    _check_read_models(database_url)


def _uuid(external_id: str) -> str:
    return str(uuid.UUID(hex=external_id.split("_", 1)[1]))


def _wait_until_settled(database_url: str, payments: int, refunds: int) -> None:
    settled = (
        "SELECT (SELECT count(*) FROM payments WHERE status <> 'processing'),"
        " (SELECT count(*) FROM refunds WHERE status <> 'pending')"
    )
    deadline = time.monotonic() + 90
    while tuple(_query(database_url, settled)[0]) != (payments, refunds):
        assert time.monotonic() < deadline, _unsettled(database_url)
        time.sleep(0.3)


def _unsettled(database_url: str) -> str:
    stuck = _query(
        database_url,
        "SELECT p.id, p.status, p.version, (SELECT array_agg(e.topic || '@' || e.notification_id"
        " ORDER BY e.originator_version) FROM paysource_events e WHERE e.originator_id = p.id)"
        " FROM payments p WHERE status = 'processing'",
    )
    counts = _query(
        database_url,
        "SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM refunds),"
        " (SELECT max(notification_id) FROM paysource_events)",
    )
    tracking = _query(database_url, "SELECT * FROM projection_tracking")
    return f"processing: {stuck}; payments, refunds, head: {counts}; tracking: {tracking}"


def _check_ledger(database_url: str) -> None:
    totals = _query(
        database_url,
        "SELECT currency, sum(debits_posted) - sum(credits_posted),"
        " sum(debits_pending) - sum(credits_pending) FROM ledger_accounts GROUP BY currency",
    )
    assert totals, "an empty ledger"
    assert all(row[1] == 0 and row[2] == 0 for row in totals), totals


def _check_read_models(database_url: str) -> None:
    env = eventsourcing_env(database_url, pool_size=2, max_overflow=0)
    store, views = EventStore(env), datastore(database_url, pool_size=2)
    try:
        for name in PROJECTIONS:
            assert verify(name, store, views) == [], f"read model {name} differs from a replay"
    finally:
        store.close()
        views.close()


def _query(database_url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return list(conn.execute(query.encode(), params).fetchall())
