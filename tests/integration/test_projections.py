"""Read models: exactly once, rebuildable, verifiable, and guarded in SQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from paysource.adapters import sim_files
from paysource.application.eventlog import (
    ConcurrencyConflict,
    Follower,
    Wakeup,
    run_until_caught_up,
)
from paysource.bootstrap import Cell, Container
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.reconciliation import Source
from paysource.readmodels.catalog import PROJECTIONS, build_projection
from paysource.readmodels.maintenance import MaintenanceBusy, rebuild, status, verify
from paysource.readmodels.view import ProjectionHandler
from tests.helpers import Api, admin, drain, new_key


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


def trade(merchant: Api, container: Container, payments: int = 12) -> list[str]:
    """Some captures, a hold, a decline, a capture the acquirer refuses, refunds that
    succeed and one that fails, a chargeback from the acquirer (`tok_disputed`, left
    open) and one an operator opens that the merchant wins; and the acquirer's file of
    the day reconciled."""
    ids = [merchant.pay(1000 + n).json()["id"] for n in range(payments)]
    merchant.pay(5000, capture_method="manual")
    merchant.pay(700, source="tok_decline")
    merchant.pay(800, source="tok_capture_refused")
    failing = merchant.pay(900, source="tok_refund_fail").json()["id"]
    merchant.pay(1100, source="tok_disputed")
    drain(container)
    for payment_id in [*ids[:3], failing]:
        refund = merchant.post(
            "/v1/refunds", {"payment": payment_id, "amount": 300}, Idempotency_Key=new_key()
        )
        assert refund.status_code == 202, refund.text
    won_dispute(merchant, ids[-1])
    drain(container)
    reconcile_today(container)
    return ids


def won_dispute(merchant: Api, payment_id: str) -> None:
    """A dispute of part of `payment_id`, answered with evidence and won."""
    staff = admin(merchant.client)
    opened = staff.post("/v1/disputes", {"payment": payment_id, "amount": 400})
    assert opened.status_code == 201, opened.text
    dispute = opened.json()["id"]
    answer = {"uncategorized_text": "delivered and signed for"}
    evidence = merchant.post(f"/v1/disputes/{dispute}/evidence", answer, Idempotency_Key=new_key())
    assert evidence.status_code == 200, evidence.text
    won = staff.post(f"/v1/disputes/{dispute}/close", {"outcome": "won"})
    assert won.status_code == 200, won.text


def reconcile_today(container: Container) -> None:
    """Clear what the acquirer settled today (the refused capture is a `missing` break)."""
    assert container.settings.database_url
    text = sim_files.acquirer_file(container.settings.database_url, datetime.now(UTC).date())
    container.router.directory.reconciliation.import_file(
        source=Source.ACQUIRER, text=text, meta=Meta(ActorKind.FINANCE, "test")
    )
    drain(container)


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_every_read_model_equals_a_full_replay_and_survives_a_rebuild(
    client: TestClient, container: Container, cell: Cell, name: str
) -> None:
    trade(admin(client).merchant(), container)
    assert verify(name, cell.store, cell.read.datastore) == []

    report = rebuild(name, cell.store, cell.read.datastore, batch_size=7)

    assert report.events > 0
    assert report.position == build_projection(name, cell.read.datastore).view.position()
    assert verify(name, cell.store, cell.read.datastore) == []


def test_verify_reports_a_tampered_row(
    client: TestClient, container: Container, cell: Cell
) -> None:
    trade(admin(client).merchant(), container)
    with cell.read.datastore.transaction(commit=True) as curs:
        curs.execute("UPDATE daily_volume SET fees_minor = fees_minor + 1")

    differences = verify("finance", cell.store, cell.read.datastore)

    assert [(d.table, d.only_live, d.only_rebuilt) for d in differences] == [("daily_volume", 1, 1)]
    rebuild("finance", cell.store, cell.read.datastore)
    assert verify("finance", cell.store, cell.read.datastore) == []


def test_a_rebuild_while_payments_flow_loses_and_doubles_nothing(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    trade(merchant, container)
    stop = threading.Event()

    def keep_paying() -> None:
        while not stop.is_set():
            merchant.pay(1234)
            drain(container)

    flow = threading.Thread(target=keep_paying)
    flow.start()
    try:
        for name in ("ledger", "payments", "transactions"):
            rebuild(name, cell.store, cell.read.datastore, batch_size=5)
    finally:
        stop.set()
        flow.join()
    drain(container)
    for name in PROJECTIONS:
        assert verify(name, cell.store, cell.read.datastore) == [], name


def test_verify_compares_at_one_position_while_the_live_projection_keeps_moving(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    trade(merchant, container)
    stop = threading.Event()

    accepted: list[int] = []

    def keep_paying() -> None:
        while not stop.is_set():
            accepted.append(merchant.pay(1234).status_code)
            drain(container, batch_size=3)  # many small live batches

    head_before = cell.store.head()
    flow = threading.Thread(target=keep_paying)
    flow.start()
    try:
        for _ in range(5):
            for name in ("ledger", "payments"):
                assert verify(name, cell.store, cell.read.datastore, batch_size=7) == [], name
    finally:
        stop.set()
        flow.join()
    assert accepted
    assert set(accepted) == {202}
    assert cell.store.head() > head_before, "the log moved while verify ran"


def test_two_rebuilds_of_one_read_model_take_turns_instead_of_breaking_each_other(
    client: TestClient, container: Container, cell: Cell
) -> None:
    trade(admin(client).merchant(), container)
    first = threading.Event()
    release = threading.Event()

    def slow_progress(*_: object) -> None:
        first.set()
        release.wait(10)

    thread = threading.Thread(
        target=rebuild,
        args=("ledger", cell.store, cell.read.datastore),
        kwargs={"batch_size": 5, "progress": slow_progress},
    )
    thread.start()
    try:
        assert first.wait(10)
        with pytest.raises(MaintenanceBusy, match="another rebuild or verify of ledger"):
            verify("ledger", cell.store, cell.read.datastore)
        assert verify("payments", cell.store, cell.read.datastore) == []  # others may run
    finally:
        release.set()
        thread.join()
    assert verify("ledger", cell.store, cell.read.datastore) == []


def test_a_batch_from_a_stale_runner_is_rolled_back_not_applied_twice(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    merchant.pay(1000)
    drain(container)
    first = ProjectionHandler(build_projection("payments", cell.read.datastore))
    stale = ProjectionHandler(build_projection("payments", cell.read.datastore))
    stale.position()  # both start from the same position
    merchant.pay(2000)
    run_until_caught_up(Follower(cell.store, first, wakeup=Wakeup()))
    batch = cell.store.select(after=0, limit=100, topics=stale.topics)

    from eventsourcing.persistence import Tracking  # noqa: PLC0415

    with pytest.raises(ConcurrencyConflict):
        stale.handle_batch([e for _, e in batch], Tracking("payments", batch[-1][0]))
    assert len(merchant.get("/v1/payments").json()["data"]) == 2
    assert verify("payments", cell.store, cell.read.datastore) == []


def test_two_runners_of_a_view_that_never_ran_take_turns_on_its_first_batch(
    client: TestClient, cell: Cell
) -> None:
    """The first batch has no tracking row to lock: the second runner must still wait
    and then stand down (a conflict), not write the same rows and hit their keys."""
    from eventsourcing.persistence import Tracking  # noqa: PLC0415

    admin(client).merchant().pay(1000)  # in the log; no projection has run
    first = ProjectionHandler(build_projection("payments", cell.read.datastore))
    second = ProjectionHandler(build_projection("payments", cell.read.datastore))
    assert first.position() == second.position() == 0
    events = cell.store.select(after=0, limit=100, topics=first.topics)
    tracking = Tracking("payments", events[-1][0])

    written, release = threading.Event(), threading.Event()
    flush = first.view.flush

    def flush_then_hold() -> None:
        flush()
        written.set()  # the first batch's rows are written, not yet committed
        assert release.wait(timeout=30)

    first.view.flush = flush_then_hold  # type: ignore[method-assign]
    outcome: list[BaseException | None] = []

    def run_second() -> None:
        try:
            second.handle_batch([e for _, e in events], tracking)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001  # looked at below
            outcome.append(error)

    holder = threading.Thread(target=first.handle_batch, args=([e for _, e in events], tracking))
    holder.start()
    assert written.wait(timeout=30)
    runner = threading.Thread(target=run_second)
    runner.start()
    time.sleep(0.5)  # the second runner reaches the database and waits there
    release.set()
    holder.join(timeout=30)
    runner.join(timeout=30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConcurrencyConflict), repr(outcome[0])
    assert verify("payments", cell.store, cell.read.datastore) == []


def test_the_ledger_refuses_an_unbalanced_entry_written_directly(cell: Cell) -> None:
    entry = uuid4()
    with (
        pytest.raises(psycopg.errors.CheckViolation, match="unbalanced journal entry"),
        psycopg.connect(cell.database_url) as conn,
    ):
        conn.execute(
            "INSERT INTO postings (entry_id, line, account, currency, side, phase,"
            " amount_minor, occurred_at) VALUES"
            " (%(e)s, 1, 'acquirer_receivable:x', 'USD', 'D', 'posted', 1000, now()),"
            " (%(e)s, 2, 'merchant_balance:x', 'USD', 'C', 'posted', 999, now())",
            {"e": entry},
        )


def test_the_ledger_accepts_a_balanced_entry_and_refuses_editing_it(cell: Cell) -> None:
    entry = uuid4()
    with psycopg.connect(cell.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO postings (entry_id, line, account, currency, side, phase,"
            " amount_minor, occurred_at) VALUES"
            " (%(e)s, 1, 'acquirer_receivable:x', 'USD', 'D', 'posted', 1000, now()),"
            " (%(e)s, 2, 'merchant_balance:x', 'USD', 'C', 'posted', 1000, now())",
            {"e": entry},
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE postings SET amount_minor = 1 WHERE entry_id = %s", (entry,))


def test_status_shows_lag_until_the_projections_catch_up(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    drain(container)
    merchant.pay(1000)

    behind = {s.name: s for s in status(cell.store, cell.read.datastore)}
    assert behind["payments"].lag_events == 1
    assert behind["payments"].lag_seconds >= 0
    assert behind["payments"].head == cell.store.head()

    drain(container)
    caught_up = {s.name: s for s in status(cell.store, cell.read.datastore)}
    assert all(s.lag_events == 0 for s in caught_up.values())


def test_the_ledger_balances_and_matches_the_payments(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    trade(merchant, container)
    with psycopg.connect(cell.database_url) as conn:
        per_currency_phase = conn.execute(
            "SELECT currency, phase, sum(CASE side WHEN 'D' THEN amount_minor"
            " ELSE -amount_minor END) FROM postings GROUP BY currency, phase"
        ).fetchall()
    assert per_currency_phase
    assert all(total == 0 for _, _, total in per_currency_phase)

    payments = merchant.get("/v1/payments", limit=100).json()["data"]
    captured = sum(p["amount_captured"] for p in payments)
    fees = sum(p["fee"] for p in payments)
    refunded = sum(p["amount_refunded"] for p in payments)
    held = sum(p["amount_capturable"] for p in payments)
    disputes = merchant.get("/v1/disputes", limit=100).json()["data"]
    assert {d["status"] for d in disputes} == {"needs_response", "won"}
    disputed = sum(d["amount"] + d["fee"] for d in disputes if d["status"] != "won")
    balance = merchant.get("/v1/balance").json()
    expected = captured - fees - refunded - disputed
    assert balance["available"] == [{"amount": expected, "currency": "USD"}]
    assert balance["pending"] == [{"amount": held, "currency": "USD"}]


@pytest.mark.parametrize("every", [3, 10_000])
def test_a_read_model_with_nothing_to_do_records_how_far_it_scanned_now_and_then(
    client: TestClient, container: Container, cell: Cell, every: int
) -> None:
    """No dispute in the log: the disputes read model has nothing to apply, yet its
    recorded position must follow the head (every `every` events scanned), or each lag
    count of it (metrics, `projections status`) would scan the log from its last
    dispute, further every day."""
    merchant = admin(client).merchant()
    drain(container)
    handler = ProjectionHandler(build_projection("disputes", cell.read.datastore))
    run_until_caught_up(Follower(cell.store, handler, wakeup=Wakeup()))
    start = handler.position()
    for n in range(4):
        merchant.pay(1000 + n)
    head = cell.store.head()
    assert head - start >= 4

    follower = Follower(cell.store, handler, wakeup=Wakeup(), record_idle_every=every)
    run_until_caught_up(follower)

    recorded = ProjectionHandler(build_projection("disputes", cell.read.datastore)).position()
    assert recorded == (head if every <= head - start else start)
    assert {s.name: s.lag_events for s in status(cell.store, cell.read.datastore)}["disputes"] == 0
