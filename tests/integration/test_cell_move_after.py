"""What operators and the API do with a merchant once it moved (issue 15's follow-ups):
commands act in its new cell, the old cell keeps no readable personal data of its
customers, and the old cell's read models still verify."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from paysource.adapters.postgres import moves
from paysource.application.errors import MerchantMoving
from paysource.application.ids import Kind, decode
from paysource.application.ports import RelayMessage
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.domain.customer import Customer
from paysource.domain.meta import ActorKind, Meta
from paysource.entrypoints.cell_move import move_merchant
from paysource.entrypoints.cli_customers import _erase
from paysource.entrypoints.worker import Worker
from paysource.processes.relay import RELAY_NAME, EventRelay
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.events.queries import RelayQueries
from paysource.readmodels.maintenance import verify
from tests.e2e.test_cli import env_for, paysource
from tests.helpers import Api, new_key, wait_for
from tests.integration.test_cell_move import at_rest, client, rows, two_cells
from tests.integration.test_cells import cell_1_url, merchant_in, second_cluster

pytestmark = pytest.mark.slow

__all__ = ["cell_1_url", "client", "second_cluster", "two_cells"]  # fixtures
CLI = Meta(ActorKind.ADMIN, "cli")


def _moved(two_cells: Container, database_url: str, merchant_id: str, *, pays: bool) -> None:
    """Let the worker bring the merchant to rest, then move it from cell-0 to cell-1."""
    worker = Worker(two_cells)
    worker.start()
    try:
        if pays:
            wait_for(lambda: at_rest(database_url, merchant_id), "payments at rest")
        time.sleep(1.5)  # the followers catch up
        move_merchant(two_cells, decode(Kind.MERCHANT, merchant_id), "cell-1", timeout_s=20)
    finally:
        worker.stop()
    time.sleep(1.1)  # the API's placements cache


def _customer_moved(client: TestClient, two_cells: Container, database_url: str) -> tuple[Api, str]:
    a, a_id = merchant_in(client, "cell-0", "A")
    made = a.post(
        "/v1/customers",
        {"name": "Ada Lovelace", "email": "ada@example.com"},
        Idempotency_Key=new_key(),
    )
    assert made.status_code == 201, made.text
    _moved(two_cells, database_url, a_id, pays=False)
    return a, made.json()["id"]


def _name_in(two_cells: Container, cell: str, customer_id: str) -> str:
    """The customer's name as that cell's store decrypts it now (no cached key)."""
    found = two_cells.router.named(cell)
    assert found is not None
    found.vault._cache.clear()
    customer = found.store.get(decode(Kind.CUSTOMER, customer_id), Customer)
    assert customer is not None
    return customer.name


def test_the_erase_command_erases_a_moved_customer_in_its_new_cell(
    client: TestClient, two_cells: Container, database_url: str
) -> None:
    a, cus = _customer_moved(client, two_cells, database_url)
    _erase(two_cells, decode(Kind.CUSTOMER, cus), None, CLI)
    assert a.get(f"/v1/customers/{cus}").json()["name"] == "[erased]"
    assert _name_in(two_cells, "cell-1", cus) == "[erased]"


def test_the_erase_command_is_refused_while_the_merchant_moves(
    client: TestClient, two_cells: Container
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")
    made = a.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=new_key())
    assert made.status_code == 201, made.text
    placements = two_cells.router.placements
    assert placements is not None
    placements.mark_moving(decode(Kind.MERCHANT, a_id), "cell-0", "cell-1")
    time.sleep(placements.ttl_s + 0.1)
    with pytest.raises(MerchantMoving):
        _erase(two_cells, decode(Kind.CUSTOMER, made.json()["id"]), None, CLI)
    assert a.get(f"/v1/customers/{made.json()['id']}").json()["name"] == "Ada"


def test_the_source_keeps_no_readable_copy_of_a_moved_customer(
    client: TestClient, two_cells: Container, database_url: str, cell_1_url: str
) -> None:
    a, cus = _customer_moved(client, two_cells, database_url)
    assert _name_in(two_cells, "cell-0", cus) == "[erased]"  # its key shredded there
    assert _name_in(two_cells, "cell-1", cus) == "Ada Lovelace"
    keys = "SELECT wrapped_key IS NULL FROM customer_keys WHERE subject_id = %s"
    assert rows(database_url, keys, decode(Kind.CUSTOMER, cus)) in ([], [(True,)])
    erased = a.client.delete(f"/v1/customers/{cus}", headers={"Authorization": f"Bearer {a.key}"})
    assert erased.status_code == 200, erased.text
    assert _name_in(two_cells, "cell-0", cus) == "[erased]"
    assert _name_in(two_cells, "cell-1", cus) == "[erased]"
    assert rows(cell_1_url, keys, decode(Kind.CUSTOMER, cus)) == [(True,)]


def test_the_dispute_commands_act_in_the_moved_merchants_new_cell(
    client: TestClient,
    two_cells: Container,
    settings: Settings,
    database_url: str,
    cell_1_url: str,
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")
    paid = a.pay(5000)
    assert paid.status_code in (201, 202), paid.text
    _moved(two_cells, database_url, a_id, pays=True)
    env = {**env_for(settings), "PAYSOURCE_CELLS": f"cell-1={cell_1_url}"}
    opened = paysource("disputes", "open", paid.json()["id"], "--reason", "fraudulent", env=env)
    assert opened.returncode == 0, opened.stderr
    dispute = json.loads(opened.stdout)["id"]
    closed = paysource("disputes", "close", dispute, "--outcome", "won", env=env)
    assert closed.returncode == 0, closed.stderr
    disputes = "SELECT count(*) FROM paysource_events WHERE topic LIKE '%%Dispute%%'"
    assert rows(database_url, disputes) == [(0,)]
    assert rows(cell_1_url, disputes)[0][0] >= 2


def test_verify_finds_nothing_amiss_in_the_source_after_a_move(
    client: TestClient, two_cells: Container, database_url: str
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")
    assert a.pay(5000).status_code in (201, 202)
    _moved(two_cells, database_url, a_id, pays=True)
    source = two_cells.router.named("cell-0")
    assert source is not None
    for name in PROJECTIONS:
        found = verify(name, source.store, source.read.datastore)
        assert found == [], (name, [(d.table, d.only_live, d.only_rebuilt) for d in found])


class Bus:
    """A cell's stream in memory (the `EventStream` port), as strict as JetStream's."""

    def __init__(self) -> None:
        self.messages: list[RelayMessage] = []

    def last_msg_id(self) -> str | None:
        return self.messages[-1].msg_id if self.messages else None

    def append(self, messages: list[RelayMessage], *, after: str | None) -> None:
        assert after == self.last_msg_id()
        self.messages.extend(messages)

    def close(self) -> None:
        pass

    def of(self, merchant_id: str) -> list[tuple[str, int]]:
        """(object, version) of the merchant's messages, in stream order."""
        bodies = [json.loads(m.body) for m in self.messages]
        return [(b["object_id"], b["version"]) for b in bodies if b["merchant"] == merchant_id]


def _relay_all(two_cells: Container, cell: str, bus: Bus, *, batches: int = 1000) -> None:
    found = two_cells.router.named(cell)
    assert found is not None
    relay = EventRelay(cell, RelayQueries(found.read.datastore), bus, batch_size=2)
    while batches and relay.relay_next():
        batches -= 1


def test_a_moved_merchants_events_reach_the_streams_once_though_the_relay_was_behind(
    client: TestClient, two_cells: Container, database_url: str, cell_1_url: str
) -> None:
    """The source's relay publishes the merchant's events before the move forgets them,
    and the target's relay leaves out the copies: every event once, in order."""
    a, a_id = merchant_in(client, "cell-0", "A")
    for name in ("Ada", "Al"):
        made = a.post("/v1/customers", {"name": name}, Idempotency_Key=new_key())
        assert made.status_code == 201, made.text
    source, target = Bus(), Bus()
    catching_up = threading.Event()
    relaying = threading.Thread(
        target=lambda: catching_up.wait(30) and _relay_all(two_cells, "cell-0", source)
    )
    worker = Worker(two_cells)
    worker.start()
    try:
        indexed = "SELECT count(*) FROM event_index WHERE merchant_id = %s"
        merchant = decode(Kind.MERCHANT, a_id)
        wait_for(lambda: rows(database_url, indexed, merchant)[0][0] >= 3, "indexed")
        _relay_all(two_cells, "cell-0", source, batches=1)  # the relay is behind
        relaying.start()
        say = lambda line: "event-relay" in line and catching_up.set()  # noqa: E731
        move_merchant(two_cells, merchant, "cell-1", timeout_s=20, say=say)
        catching_up.set()
        relaying.join()
        wait_for(lambda: rows(cell_1_url, indexed, merchant)[0][0] >= 2, "copies indexed")
        _relay_all(two_cells, "cell-1", target)  # nothing to publish: no lag either
        copies = rows(cell_1_url, "SELECT max(position) FROM event_index")[0][0]
        assert moves.tracking_positions(cell_1_url)[RELAY_NAME] >= copies
        placements = two_cells.router.placements
        assert placements is not None
        placements.forget(merchant)  # not the second-old placement: the new one
        assert a.post("/v1/customers", {"name": "Bo"}, Idempotency_Key=new_key()).status_code == 201
        wait_for(lambda: rows(cell_1_url, indexed, merchant)[0][0] >= 3, "indexed in cell-1")
    finally:
        worker.stop()
    _relay_all(two_cells, "cell-0", source)
    _relay_all(two_cells, "cell-1", target)
    before, after = source.of(a_id), target.of(a_id)
    assert (len(before), len(after)) == (3, 1), (before, after)  # A, Ada, Al; then Bo
    everything = before + after
    assert len(set(everything)) == len(everything)
    for object_id in {o for o, _ in everything}:
        versions = [v for o, v in everything if o == object_id]
        assert versions == list(range(1, len(versions) + 1))
