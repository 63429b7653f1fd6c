"""Only captures the acquirer confirmed are settled (issue 11): one it has not answered
waits, whatever the read model nominates, and is settled once it answers; captures
recorded before confirmations existed (version-1 `Captured` events) settle as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient

from paysource.adapters.acquirer_sim import SimulatedAcquirer
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.ports import AcquirerTimeout
from paysource.bootstrap import Cell, Container, build_container
from paysource.config import Settings
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import Payment
from paysource.domain.settlement import Settlement
from paysource.readmodels.maintenance import verify
from paysource.readmodels.view import ProjectionHandler
from tests.helpers import Api, admin, drain, processor_of


class Unanswering(SimulatedAcquirer):
    """The simulator, whose captures time out while `down` (an acquirer that is)."""

    down = False

    def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        if self.down:
            raise AcquirerTimeout("the acquirer did not answer")
        super().capture(idempotency_key=idempotency_key, reference=reference, amount=amount)


@pytest.fixture
def acquirer() -> Unanswering:
    return Unanswering()


@pytest.fixture
def container(settings: Settings, acquirer: Unanswering) -> Iterator[Container]:
    built = build_container(settings, acquirer=acquirer)
    yield built
    built.close()


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


def owner(merchant: Api) -> UUID:
    return UUID(hex=merchant.get("/v1/balance").json()["merchant"].removeprefix("mer_"))


def uuid_of(payment: str) -> UUID:
    return UUID(hex=payment.removeprefix("pay_"))


def close(cell: Cell, merchant: Api) -> Settlement:
    until = datetime.now(UTC) + timedelta(seconds=1)
    meta = Meta(ActorKind.ADMIN, "test")
    return cell.settlements.close(
        merchant_id=owner(merchant), currency="USD", until=until, meta=meta
    ).value


def settled(settlement: Settlement) -> set[UUID]:
    return {item.ref_id for item in settlement.items}


def process_while_down(container: Container, cell: Cell) -> None:
    """The worker while the acquirer does not answer: its processor fails (and will
    retry the batch), its projections go on."""
    processor = processor_of(container, cell)
    with pytest.raises(AcquirerTimeout):
        run_until_caught_up(Follower(cell.store, processor, wakeup=Wakeup()), timeout_s=10)
    project(cell)


def project(cell: Cell) -> None:
    for projection in cell.read.projections():
        handler = ProjectionHandler(projection)
        run_until_caught_up(Follower(cell.store, handler, wakeup=Wakeup()), timeout_s=10)


def item_hold(cell: Cell, payment_id: UUID) -> Any:
    with cell.read.datastore.transaction(commit=False) as curs:
        row = curs.execute(
            "SELECT hold FROM settleable_items WHERE kind = 'capture' AND ref_id = %s",
            (payment_id,),
        ).fetchone()
    assert row is not None
    return row["hold"]


def test_a_capture_the_acquirer_has_not_answered_waits_for_the_settlement_after_it_answers(
    merchant: Api, container: Container, cell: Cell, acquirer: Unanswering
) -> None:
    confirmed = merchant.pay(1_000).json()["id"]
    drain(container)
    acquirer.down = True
    waiting = merchant.pay(2_000).json()["id"]
    process_while_down(container, cell)

    shown = merchant.get(f"/v1/payments/{waiting}").json()
    assert (shown["status"], shown["capture_confirmed"]) == ("succeeded", None)
    assert merchant.get(f"/v1/payments/{confirmed}").json()["capture_confirmed"] is not None
    assert item_hold(cell, uuid_of(waiting)) == "capture_unconfirmed"
    assert cell.read.settlements.held_items() == [("capture_unconfirmed", 1)]  # the alert
    first = close(cell, merchant)
    assert settled(first) == {uuid_of(confirmed)}

    acquirer.down = False
    drain(container)

    listed = {p["id"]: p["capture_confirmed"] for p in merchant.get("/v1/payments").json()["data"]}
    assert listed[waiting] is not None
    assert merchant.get(f"/v1/payments/{waiting}").json()["capture_confirmed"] == listed[waiting]
    assert cell.read.settlements.held_items() == []
    second = close(cell, merchant)
    assert settled(second) == {uuid_of(waiting)}
    assert second.gross_minor == 2_000


def test_the_settlement_asks_the_event_store_not_a_read_model_that_nominates_it(
    merchant: Api, container: Container, cell: Cell, acquirer: Unanswering
) -> None:
    confirmed = merchant.pay(1_000).json()["id"]
    drain(container)
    acquirer.down = True
    merchant.pay(2_000)
    process_while_down(container, cell)
    with cell.read.datastore.transaction(commit=True) as curs:  # a read model gone wrong
        curs.execute("UPDATE settleable_items SET hold = NULL")

    assert settled(close(cell, merchant)) == {uuid_of(confirmed)}


def test_graphql_shows_when_the_capture_was_confirmed(
    merchant: Api, container: Container, cell: Cell, acquirer: Unanswering
) -> None:
    confirmed = merchant.pay(1_000).json()["id"]
    drain(container)
    acquirer.down = True
    waiting = merchant.pay(2_000).json()["id"]
    process_while_down(container, cell)
    query = "query($id: ID!) { payment(id: $id) { ... on Payment { captureConfirmed } } }"

    def shown(payment: str) -> Any:
        answer = merchant.post("/graphql", {"query": query, "variables": {"id": payment}})
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]["payment"]["captureConfirmed"]

    assert shown(waiting) is None
    rest = merchant.get(f"/v1/payments/{confirmed}").json()["capture_confirmed"]
    assert datetime.fromisoformat(shown(confirmed)) == datetime.fromisoformat(rest)


def test_a_capture_recorded_before_confirmations_existed_is_settled_without_one(
    merchant: Api, container: Container, cell: Cell
) -> None:
    manual = merchant.pay(3_000, capture_method="manual").json()["id"]
    drain(container)
    append_version_1_capture(cell, uuid_of(manual))
    project(cell)  # the old worker relayed it long ago: no confirmation is coming

    shown = merchant.get(f"/v1/payments/{manual}").json()
    assert (shown["status"], shown["capture_confirmed"]) == ("succeeded", None)
    assert item_hold(cell, uuid_of(manual)) is None
    assert settled(close(cell, merchant)) == {uuid_of(manual)}
    project(cell)
    for name in ("settlements", "payments"):  # the old log replays to the same rows
        assert verify(name, cell.store, cell.read.datastore) == [], name


def append_version_1_capture(cell: Cell, payment_id: UUID) -> None:
    """Record the capture as the code before confirmations did: `Captured` with no
    `confirmation_required` and no class version."""
    payment = cell.store.get(payment_id, Payment)
    assert payment is not None
    payment.capture(None, cell.fees(payment.merchant_id), Meta(ActorKind.ADMIN, "test"))
    mapper = cell.store._app.mapper  # the store's own transcoding (no public handle)
    [event] = payment.collect_events()
    stored = mapper.to_stored_event(event)
    state = mapper.transcoder.decode(stored.state)
    del state["class_version"], state["confirmation_required"]
    old = StoredEvent(
        stored.originator_id,
        stored.originator_version,
        stored.topic,
        mapper.transcoder.encode(state),
    )
    cell.store.recorder.insert_events([old])
