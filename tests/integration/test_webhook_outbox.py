"""The webhook outbox: every state change is queued once per subscribed endpoint, with
the object as that change left it, and only to the merchant's own endpoints."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from paysource.application import representations as rep
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.webhooks.catalog import standard_catalog, webhook_event_id
from paysource.bootstrap import Container
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import Payment
from paysource.domain.refund import Refund
from tests.helpers import drain
from tests.integration.test_webhook_delivery import WebhookWorld, new_merchant, open_world

RENDER: dict[str, Any] = {"payment": (Payment, rep.payment), "refund": (Refund, rep.refund)}


@pytest.fixture
def world(container: Container) -> Iterator[WebhookWorld]:
    with open_world(container) as opened:
        yield opened


def refund(world: WebhookWorld, payment_id: UUID, amount: int) -> UUID:
    return world.cell.refunds.create_refund(  # type: ignore[no-any-return]
        merchant_id=world.merchant_id,
        payment_id=payment_id,
        amount=Money(amount, "USD"),
        reason=None,
        idempotency_key=f"refund-{payment_id}-{amount}",
        request_hash="r",
        meta=world.meta(),
    ).value.id


def mapped_events(world: WebhookWorld) -> set[tuple[UUID, int, str]]:
    """(object id, version, type) of every state change of the merchant in the log."""
    catalog = standard_catalog()
    found = set()
    for _, event in world.cell.store.select(after=0, limit=100_000):
        hit = catalog.lookup(event)
        if hit is None:
            continue
        aggregate = world.cell.store.get(event.originator_id, hit[0].aggregate)
        if aggregate is not None and hit[0].merchant_of(aggregate) == world.merchant_id:
            found.add((event.originator_id, event.originator_version, hit[1]))
    return found


def events(world: WebhookWorld) -> list[dict[str, Any]]:
    with world.webhooks.for_cell(world.cell).queue.datastore.cursor() as curs:
        return curs.execute("SELECT * FROM webhook_events").fetchall()


def test_every_state_change_is_queued_once_with_the_object_at_that_version(
    world: WebhookWorld,
) -> None:
    endpoint_id, _ = world.register("http://127.0.0.1:9/all", ["*"])
    captured = world.pay(amount=5000)
    for token in ("tok_decline", "tok_risk", "tok_refund_fail"):
        world.pay(token=token)
    world.process()
    refund(world, captured, 1000)
    world.process()

    queued = {(d["object_id"], d["object_version"], d["event_type"]) for d in world.deliveries()}
    assert queued == mapped_events(world)
    assert len(world.deliveries()) == len(queued)
    assert {d["endpoint_id"] for d in world.deliveries()} == {endpoint_id}
    for row in events(world):
        kind, render = RENDER[row["type"].partition(".")[0]]
        at_version = world.cell.store.get(row["object_id"], kind, version=row["object_version"])
        body = json.loads(row["payload"])
        assert body["data"]["object"] == render(at_version)
        assert body["object_version"] == row["object_version"]
        assert row["id"] == webhook_event_id(row["object_id"], row["object_version"])
        assert body["id"] == f"evt_{row['id'].hex}"


def test_two_outboxes_racing_queue_each_state_change_exactly_once(world: WebhookWorld) -> None:
    world.register("http://127.0.0.1:9/a", ["*"])
    world.register("http://127.0.0.1:9/b", ["payment.*"])
    world.outbox()  # the tracking row exists: racing batches take turns on its lock
    for _ in range(15):
        world.pay()
    drain(world.container)
    start = threading.Barrier(2)

    def outbox() -> None:
        handler = world.webhooks.outbox(world.cell)
        start.wait()
        run_until_caught_up(Follower(world.cell.store, handler, wakeup=Wakeup(), batch_size=3))

    threads = [threading.Thread(target=outbox) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    deliveries = world.deliveries()
    expected = mapped_events(world)
    payment_changes = [e for e in expected if e[2].startswith("payment.")]
    assert len(deliveries) == len(expected) + len(payment_changes)
    # `seq` is drawn for every insert tried, even one that conflicts or rolls back: no
    # gap means a stale batch stopped at the tracking row, before writing anything.
    seqs = sorted(d["seq"] for d in deliveries)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert world.webhooks.outbox(world.cell).position() == last_followed(world)


def test_an_endpoint_hears_only_what_happens_after_it_is_registered_and_subscribed_to(
    world: WebhookWorld,
) -> None:
    before = world.pay()
    world.process()
    world.register("http://127.0.0.1:9/refunds", ["refund.*"])
    refund(world, before, 100)
    after = world.pay()
    world.process()
    refund(world, after, 200)
    world.process()

    queued = [(d["event_type"], d["object_version"]) for d in world.deliveries()]
    assert sorted(queued) == [("refund.created", 1)] * 2 + [("refund.succeeded", 2)] * 2


def test_another_merchants_state_changes_never_reach_an_endpoint(world: WebhookWorld) -> None:
    world.register("http://127.0.0.1:9/a", ["*"])
    other = WebhookWorld(world.container, world.webhooks, new_merchant(world.container, "Other"))
    other.pay()
    other.process()

    assert world.deliveries() == []


def test_a_disabled_endpoint_is_queued_nothing_until_enabled_again(world: WebhookWorld) -> None:
    endpoint_id, _ = world.register("http://127.0.0.1:9/a", ["payment.created"])
    service = world.webhooks.for_cell(world.cell).endpoints
    service.disable(endpoint_id, reason="test", meta=Meta(ActorKind.SYSTEM, "test"))
    world.pay()
    world.process()
    assert world.deliveries() == []

    service.enable(
        merchant_id=world.merchant_id,
        endpoint_id=endpoint_id,
        idempotency_key=None,
        request_hash="",
        meta=world.meta(),
    )
    world.pay()
    world.process()

    assert len(world.deliveries()) == 1


def test_with_nobody_listening_the_outbox_only_moves_its_position(world: WebhookWorld) -> None:
    world.pay()
    world.process()

    assert world.deliveries() == []
    assert events(world) == []
    assert world.webhooks.outbox(world.cell).position() == last_followed(world)


def test_a_settlement_closing_is_sent_with_the_settlement_as_lists_show_it(
    world: WebhookWorld,
) -> None:
    world.register("http://127.0.0.1:9/settlements", ["settlement.*"])
    world.pay(amount=2000)
    world.process()
    settlement = world.cell.settlements.close(
        merchant_id=world.merchant_id,
        currency="USD",
        until=world.container.clock.now() + timedelta(seconds=1),
        meta=world.meta(),
    ).value
    world.process()

    [row] = events(world)
    body = json.loads(row["payload"])
    assert body["type"] == "settlement.closed"
    assert body["object_version"] == settlement.version
    assert body["data"]["object"]["status"] == "closed"
    assert body["data"]["object"]["items_count"] == 1
    assert "items" not in body["data"]["object"]


def last_followed(world: WebhookWorld) -> int:
    """The position of the last event the outbox follows (a payment's last, its
    CaptureConfirmed, maps to no webhook event, so the outbox does not follow it)."""
    outbox = world.webhooks.outbox(world.cell)
    found = world.cell.store.select(after=0, limit=1000, topics=outbox.topics)
    return found[-1][0]
