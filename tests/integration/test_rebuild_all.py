"""`projections rebuild --all`: one read of the log, fresh tables swapped in by rename."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from paysource.bootstrap import Cell, Container
from paysource.entrypoints.rebuild_processes import RebuildFailed, rebuild_in_processes
from paysource.readmodels.catalog import PROJECTIONS, build_projection
from paysource.readmodels.maintenance import verify
from paysource.readmodels.rebuilding import rebuild_all
from tests.helpers import admin, drain
from tests.integration.test_projections import trade

EVERY = list(PROJECTIONS)
SCHEMAS = "SELECT nspname FROM pg_namespace WHERE nspname ~ '^(scratch|retired)_'"


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


def read(cell: Cell, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(cell.database_url) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]  # fixed text


def definitions(cell: Cell) -> list[tuple[Any, ...]]:
    """Everything a swap must carry over: every index, constraint and trigger of the
    public schema under its name, and the views' text."""
    indexes = read(
        cell, "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    )
    constraints = read(
        cell,
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace",
    )
    triggers = read(
        cell,
        "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger"
        " WHERE NOT tgisinternal",
    )
    views = read(
        cell,
        "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'",
    )
    return sorted(map(tuple, [*indexes, *constraints, *triggers, *views]), key=repr)


def audit_state(cell: Cell) -> list[tuple[Any, ...]]:
    return [
        *read(cell, "SELECT leaf_index, notification_id, leaf_hash FROM audit_leaves"),
        *read(cell, "SELECT level, idx, hash FROM audit_nodes"),
        *read(cell, "SELECT * FROM projection_tracking WHERE application_name = 'audit-log'"),
    ]


def test_rebuilding_all_in_one_pass_equals_a_replay_of_each_and_keeps_the_schema(
    client: TestClient, container: Container, cell: Cell
) -> None:
    trade(admin(client).merchant(), container)
    with psycopg.connect(cell.database_url, autocommit=True) as conn:
        # The audit log is not a read model: rebuilding them all leaves it alone.
        conn.execute("INSERT INTO audit_leaves VALUES (0, 1, %s)", (b"\x01" * 32,))
        conn.execute("INSERT INTO audit_nodes VALUES (1, 0, %s)", (b"\x02" * 32,))
        conn.execute(
            "INSERT INTO projection_tracking VALUES ('audit-log', 1)"
            " ON CONFLICT (application_name) DO UPDATE SET notification_id = 1"
        )
        # A wrong live row: the rebuild must replace it, not keep it.
        conn.execute("UPDATE daily_volume SET fees_minor = fees_minor + 1")
    schema, audit = definitions(cell), audit_state(cell)

    reports = rebuild_all(EVERY, cell.store, cell.read.datastore, batch_size=7)

    assert [r.name for r in reports] == EVERY
    for report in reports:
        assert report.events > 0, report.name
        assert report.position == cell.store.head()
        assert report.position == build_projection(report.name, cell.read.datastore).view.position()
        assert verify(report.name, cell.store, cell.read.datastore) == [], report.name
    assert definitions(cell) == schema
    assert audit_state(cell) == audit
    assert not read(cell, SCHEMAS), "scratch and retired schemas are dropped"


def test_readers_see_the_old_tables_or_the_new_ones_during_swaps_never_neither(
    client: TestClient, container: Container, cell: Cell
) -> None:
    trade(admin(client).merchant(), container)
    payments = read(cell, "SELECT count(*) FROM payments")[0][0]
    balances = read(cell, "SELECT count(*) FROM merchant_balances")[0][0]
    stop, seen, errors = threading.Event(), set(), []

    def keep_reading() -> None:
        with psycopg.connect(cell.database_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.add(("payments", conn.execute("SELECT count(*) FROM payments").fetchone()))
                    seen.add(
                        (
                            "balances",
                            conn.execute("SELECT count(*) FROM merchant_balances").fetchone(),
                        )
                    )
                except psycopg.Error as error:
                    errors.append(repr(error))

    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        for _ in range(4):
            # One row fewer in the live table: the old tables and the new differ by it.
            with psycopg.connect(cell.database_url, autocommit=True) as conn:
                conn.execute("DELETE FROM payments WHERE id IN (SELECT id FROM payments LIMIT 1)")
            rebuild_all(["payments", "ledger"], cell.store, cell.read.datastore)
    finally:
        stop.set()
        reader.join()

    assert errors == []
    assert seen == {
        ("payments", (payments,)),
        ("payments", (payments - 1,)),
        ("balances", (balances,)),
    }


def test_events_that_arrive_during_a_rebuild_are_applied_once(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    trade(merchant, container)
    paid: list[str] = []

    def pay_meanwhile(*_: object) -> None:
        # The live projections apply these to the tables about to be replaced; the
        # rebuild must catch up with them before its swap.
        if len(paid) < 3:
            paid.append(merchant.pay(4321).json()["id"])
            drain(container)

    rebuild_all(EVERY, cell.store, cell.read.datastore, batch_size=5, progress=pay_meanwhile)
    drain(container)

    assert len(paid) == 3
    listed = [p["id"] for p in merchant.get("/v1/payments", limit=100).json()["data"]]
    assert sorted(set(listed) & set(paid)) == sorted(paid)
    assert len(listed) == len(set(listed))
    for name in EVERY:
        assert verify(name, cell.store, cell.read.datastore) == [], name


def test_a_rebuild_of_all_while_payments_flow_loses_and_doubles_nothing(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    trade(merchant, container)
    stop = threading.Event()

    def keep_paying() -> None:
        while not stop.is_set():
            merchant.pay(1234)
            drain(container, batch_size=3)  # many small live batches, racing the swaps

    flow = threading.Thread(target=keep_paying)
    flow.start()
    try:
        for _ in range(2):
            rebuild_all(EVERY, cell.store, cell.read.datastore, batch_size=5)
    finally:
        stop.set()
        flow.join()
    drain(container)
    for name in EVERY:
        assert verify(name, cell.store, cell.read.datastore) == [], name


def test_rebuilding_all_on_two_processes_equals_a_replay_of_each(
    client: TestClient, container: Container, cell: Cell
) -> None:
    trade(admin(client).merchant(), container)
    with psycopg.connect(cell.database_url, autocommit=True) as conn:
        conn.execute("UPDATE daily_volume SET fees_minor = fees_minor + 1")
        conn.execute("DELETE FROM payments WHERE id IN (SELECT id FROM payments LIMIT 1)")
    assert verify("finance", cell.store, cell.read.datastore) != []
    assert verify("payments", cell.store, cell.read.datastore) != []
    schema = definitions(cell)

    reports = rebuild_in_processes(container.settings, cell.name, EVERY, processes=2, batch_size=7)

    assert [r.name for r in reports] == EVERY
    for report in reports:
        assert report.position == cell.store.head()
        assert verify(report.name, cell.store, cell.read.datastore) == [], report.name
    assert definitions(cell) == schema
    assert not read(cell, SCHEMAS), "scratch and retired schemas are dropped"


def test_a_rebuild_process_that_fails_fails_the_rebuild_with_its_reason(
    container: Container, cell: Cell
) -> None:
    with pytest.raises(RebuildFailed, match="no cell named cell-9"):
        rebuild_in_processes(container.settings, "cell-9", EVERY, processes=2, batch_size=7)


def test_a_rebuild_process_that_dies_without_a_word_fails_the_rebuild(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    trade(merchant, container)
    # A longer log (about 1,100 events): replayed one event per batch it lasts several
    # seconds. With trade's events alone (under a second) both processes could be done
    # before the test saw them replaying, and it never killed one (a fresh clone's suite).
    for n in range(250):
        merchant.pay(2000 + n)
    drain(container)
    outcome: list[BaseException | None] = []

    def rebuild() -> None:
        try:
            rebuild_in_processes(container.settings, cell.name, EVERY, processes=2, batch_size=1)
        except BaseException as error:  # noqa: BLE001  # handed to the test's thread
            outcome.append(error)
        else:
            outcome.append(None)

    runner = threading.Thread(target=rebuild)
    runner.start()
    deadline = time.monotonic() + 60
    # Both processes made their scratch and retired schemas: they are replaying.
    while len(read(cell, SCHEMAS)) < 2 * len(EVERY):
        assert runner.is_alive(), outcome
        assert time.monotonic() < deadline, "the rebuild never started"
        time.sleep(0.02)
    # rebuild-0 has the heaviest group (the ledger's): the last to be done.
    victim = next(c for c in multiprocessing.active_children() if c.name == "rebuild-0")
    os.kill(victim.pid or 0, signal.SIGKILL)
    runner.join(timeout=60)

    assert len(outcome) == 1
    assert isinstance(outcome[0], RebuildFailed), outcome
    assert "ended (exit code -9) before reporting" in str(outcome[0])
