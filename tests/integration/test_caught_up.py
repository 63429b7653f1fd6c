"""Commands that let a read model nominate wait for it first (application/caught_up.py):
a file imported, or a settlement closed, a moment after a capture still sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from paysource.adapters import sim_files
from paysource.adapters.clock import ManualClock
from paysource.application.caught_up import CaughtUp
from paysource.application.errors import ReadModelBehind
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.reconciliation import ReconciliationService
from paysource.application.settlements import SettlementService
from paysource.bootstrap import Cell, Container
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.reconciliation import Source
from paysource.domain.schedule import DailySchedule
from paysource.processes.settlement_schedule import SettlementScheduler
from paysource.readmodels.catalog import PROJECTIONS
from tests.helpers import Api, admin, drain, processor_of

META = Meta(ActorKind.FINANCE, "test")


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.directory


def captured_but_not_projected(client: TestClient, container: Container, cell: Cell) -> Api:
    """A merchant with a 25.00 payment captured (the processor ran), which no read model
    has applied yet (no projection ran since)."""
    merchant = admin(client).merchant()
    drain(container)
    assert merchant.pay(2_500).status_code == 202
    run_until_caught_up(Follower(cell.store, processor_of(container, cell), wakeup=Wakeup()))
    return merchant


def wait_for(cell: Cell, name: str, **options: Any) -> CaughtUp:
    view_class, projection_class = PROJECTIONS[name]
    position = view_class(cell.read.datastore).position
    return CaughtUp(cell.store, name, projection_class.topics, position, **options)


def waits_by_draining(container: Container, cell: Cell, name: str) -> CaughtUp:
    """A wait whose every pause lets the worker's read models run, as they would meanwhile."""
    return wait_for(cell, name, sleep=lambda _: drain(container))


def test_a_file_imported_right_after_a_capture_matches_it(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    captured_but_not_projected(client, container, cell)
    text = sim_files.acquirer_file(database_url, datetime.now(UTC).date())
    service = ReconciliationService(
        cell.store, cell.read.reconciliation, waits_by_draining(container, cell, "ledger")
    )

    result = service.import_file(source=Source.ACQUIRER, text=text, meta=META)

    assert (result.lines, result.matched, result.breaks) == (1, 1, ())


def test_a_settlement_closed_right_after_a_capture_settles_it(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = captured_but_not_projected(client, container, cell)
    owner = UUID(hex=merchant.get("/v1/balance").json()["merchant"].removeprefix("mer_"))
    service = SettlementService(
        cell.store,
        cell.read.settlements,
        caught_up=waits_by_draining(container, cell, "settlements"),
    )

    closed = service.close(
        merchant_id=owner,
        currency="USD",
        until=datetime.now(UTC) + timedelta(seconds=1),
        meta=META,
    )

    assert closed.value.gross_minor == 2_500


def test_a_read_model_that_stays_behind_refuses_the_command(
    client: TestClient, container: Container, cell: Cell
) -> None:
    captured_but_not_projected(client, container, cell)
    waited: list[float] = []
    caught_up = wait_for(cell, "ledger", timeout_s=0.05, sleep=waited.append)

    with pytest.raises(ReadModelBehind, match="ledger read model has not caught up") as refused:
        caught_up()

    assert refused.value.retry_after_s == 1
    assert waited  # it polled before giving up


def test_events_a_read_model_does_not_follow_are_not_waited_for(
    client: TestClient, container: Container, cell: Cell
) -> None:
    captured_but_not_projected(client, container, cell)
    drain(container)
    # The reconciliation view follows none of a payment's events: the payment above put
    # it behind the head without giving it anything to apply.
    assert wait_for(cell, "reconciliation")._position() < cell.store.head()

    def no_pause(_: float) -> None:
        raise AssertionError("waited for events the read model does not follow")

    wait_for(cell, "reconciliation", sleep=no_pause)()


def test_the_schedule_waits_once_a_tick_not_once_a_settlement(
    client: TestClient, container: Container, cell: Cell
) -> None:
    """Each close commits a settlement the view follows: were each close to wait for the
    view, the second would wait for the first's (here, with no worker, in vain)."""
    for merchant in (admin(client).merchant(), admin(client).merchant()):
        assert merchant.pay(2_500).status_code == 202
    drain(container)
    waits = []
    caught_up = wait_for(cell, "settlements", timeout_s=0.5)

    def counted() -> None:
        waits.append(clock.now())
        caught_up()

    service = SettlementService(cell.store, cell.read.settlements, caught_up=counted)
    clock = ManualClock(datetime.now(UTC) + timedelta(days=1))
    scheduler = SettlementScheduler(service, cell.read.settlements, clock, DailySchedule(0, 0))

    closed = scheduler.tick()

    assert len(closed) == 2
    assert len(waits) == 1


def test_a_tick_with_the_view_behind_closes_nothing_and_says_why(
    client: TestClient, container: Container, cell: Cell, caplog: pytest.LogCaptureFixture
) -> None:
    captured_but_not_projected(client, container, cell)
    service = SettlementService(
        cell.store, cell.read.settlements, caught_up=wait_for(cell, "settlements", timeout_s=0.05)
    )
    clock = ManualClock(datetime.now(UTC) + timedelta(days=1))
    scheduler = SettlementScheduler(service, cell.read.settlements, clock, DailySchedule(0, 0))

    with caplog.at_level("WARNING", logger="paysource.processes.settlement_schedule"):
        closed = scheduler.tick()

    assert closed == []
    assert "settlements read model has not caught up" in caplog.text
