"""Moving a merchant between cells under payment load (issue 15): nothing lost or
doubled, the source forgets it, and a move that cannot finish leaves it where it was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
import redis
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient
from pydantic import SecretStr

from paysource.adapters.postgres import moves
from paysource.adapters.postgres.moves import MoveRefused
from paysource.adapters.postgres.placements import Placement, PostgresPlacements
from paysource.application.errors import MerchantMoving
from paysource.application.ids import Kind, decode
from paysource.bootstrap import Container, build_container
from paysource.config import Settings
from paysource.domain.customer import Customer
from paysource.domain.errors import InvalidValue
from paysource.domain.meta import ActorKind, Meta
from paysource.entrypoints import cell_move
from paysource.entrypoints.cell_move import move_merchant, recover_move
from paysource.entrypoints.http.app import create_app
from paysource.entrypoints.worker import Worker
from paysource.processes.webhook_outbox import OUTBOX_NAME
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.rebuilding import rebuild_all
from tests.e2e.test_cli import env_for, paysource
from tests.helpers import Api, admin, drain, new_key, wait_for
from tests.integration.test_cells import cell_1_url, merchant_in, payment_ids_in, second_cluster
from tests.integration.test_job_sharing import caught_up
from tests.integration.test_move_seal import created
from tests.integration.test_webhook_delivery import Receiver, webhook_settings

pytestmark = pytest.mark.slow

__all__ = ["cell_1_url", "second_cluster"]  # fixtures, shared with test_cells
ALL_READ_MODELS = list(PROJECTIONS)


@pytest.fixture
def two_cells(settings: Settings, cell_1_url: str) -> Iterator[Container]:
    built = build_container(
        settings.model_copy(
            update={
                "cells": SecretStr(f"cell-1={cell_1_url}"),
                "webhook": webhook_settings(),
            }
        )
    )
    yield built
    built.close()


@pytest.fixture
def client(two_cells: Container) -> Iterator[TestClient]:
    with TestClient(create_app(two_cells)) as test_client:
        yield test_client


@pytest.fixture
def worker(two_cells: Container) -> Iterator[Worker]:
    running = Worker(two_cells)
    running.start()
    yield running
    running.stop()


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def at_rest(url: str, merchant_id: str) -> bool:
    """Every payment of the merchant settled into a final state by the worker."""
    found = rows(
        url,
        "SELECT count(*) FROM payments WHERE merchant_id = %s AND status <> 'succeeded'",
        decode(Kind.MERCHANT, merchant_id),
    )
    return found[0][0] == 0


def outbox_done(url: str) -> bool:
    """The webhook outbox has handled every event in the cell's log."""
    last = rows(url, "SELECT coalesce(max(notification_id), 0) FROM paysource_events")[0][0]
    return moves.tracking_positions(url).get(OUTBOX_NAME, 0) >= last


def ledger_of(url: str, merchant_id: UUID) -> dict[str, tuple[int, ...]]:
    found = rows(
        url,
        "SELECT account, debits_pending, debits_posted, credits_pending, credits_posted"
        " FROM ledger_accounts WHERE merchant_id = %s",
        merchant_id,
    )
    return {row[0]: tuple(row[1:]) for row in found}


def platform_ledger(*urls: str) -> dict[str, tuple[int, ...]]:
    """The platform's accounts (fees, cash), summed over cells."""
    total: dict[str, tuple[int, ...]] = {}
    for url in urls:
        for row in rows(
            url,
            "SELECT account, debits_pending, debits_posted, credits_pending, credits_posted"
            " FROM ledger_accounts WHERE merchant_id IS NULL",
        ):
            old = total.get(row[0], (0, 0, 0, 0))
            total[row[0]] = tuple(a + int(b) for a, b in zip(old, row[1:], strict=True))
    return total


def ledger_of_payments(
    url: str, payment_ids: list[UUID], *, platform: bool = False
) -> dict[str, tuple[int, ...]]:
    """What these payments' entries add to each account, as the projection adds it."""
    found = rows(
        url,
        "SELECT p.account,"
        " sum(CASE WHEN p.side = 'D' AND p.phase = 'pending' THEN p.amount_minor"
        "  WHEN p.side = 'D' AND p.phase = 'release' THEN -p.amount_minor ELSE 0 END),"
        " sum(CASE WHEN p.side = 'D' AND p.phase = 'posted' THEN p.amount_minor ELSE 0 END),"
        " sum(CASE WHEN p.side = 'C' AND p.phase = 'pending' THEN p.amount_minor"
        "  WHEN p.side = 'C' AND p.phase = 'release' THEN -p.amount_minor ELSE 0 END),"
        " sum(CASE WHEN p.side = 'C' AND p.phase = 'posted' THEN p.amount_minor ELSE 0 END)"
        " FROM postings p JOIN journal_entries e ON e.id = p.entry_id"
        f" WHERE e.payment_id = ANY(%s) AND p.account {'' if platform else 'NOT'} LIKE %s"
        " GROUP BY p.account",
        payment_ids,
        "%:platform",
    )
    return {row[0]: tuple(int(v) for v in row[1:]) for row in found}


class Load:
    """Payments for one merchant, each with its key, retried on 503 after Retry-After."""

    def __init__(self, merchant: Api) -> None:
        self.merchant = merchant
        self.acknowledged: dict[str, dict[str, Any]] = {}  # key → the 2xx body
        self.refused_while_moving = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            key = new_key()
            while True:
                paid = self.merchant.pay(700, key=key)
                if paid.status_code != 503:
                    break
                assert paid.json()["type"].endswith("/merchant_moving"), paid.text
                self.refused_while_moving += 1
                time.sleep(float(paid.headers["Retry-After"]) / 10)  # a quick client
            assert paid.status_code in (201, 202), paid.text
            self.acknowledged[key] = paid.json()
            time.sleep(0.02)


def test_a_merchant_moves_under_payment_load_and_nothing_is_lost_or_doubled(
    client: TestClient,
    two_cells: Container,
    worker: Worker,
    database_url: str,
    cell_1_url: str,
    settings: Settings,
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")
    b, b_id = merchant_in(client, "cell-0", "B")
    merchant_a = decode(Kind.MERCHANT, a_id)
    with Receiver() as receiver:
        hook = a.post("/v1/webhook_endpoints", {"url": receiver.url, "events": ["*"]})
        assert hook.status_code == 201, hook.text
        first_key = new_key()
        first = a.pay(5000, key=first_key)
        before_ids = [first.json()["id"]] + [a.pay(1000 + n).json()["id"] for n in range(4)]
        b_ids = [b.pay(2000).json()["id"] for _ in range(2)]
        wait_for(lambda: at_rest(database_url, a_id) and at_rest(database_url, b_id), "paid")
        refund = a.post(
            "/v1/refunds", {"payment": before_ids[0], "amount": 500}, Idempotency_Key=new_key()
        )
        assert refund.status_code in (201, 202), refund.text
        until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        time.sleep(1.2)
        body = {"merchant": a_id, "currency": "USD", "until": until}
        settled = admin(client).post("/v1/settlements", body, Idempotency_Key=new_key())
        assert settled.status_code == 201, settled.text

        def settled_and_paid() -> bool:
            got = a.get(f"/v1/settlements/{settled.json()['id']}").json()
            return bool(got["status"] == "paid")

        wait_for(settled_and_paid, "the settlement paid out", within_s=20)
        wait_for(lambda: len(receiver.delivered()) > 0, "webhooks delivered")
        # Read models follow the log each at its own pace (the settlements view may see
        # the payout before the ledger does): read them "before" once all caught up.
        source = two_cells.router.named("cell-0")
        assert source is not None
        wait_for(lambda: all(caught_up(source, n) for n in PROJECTIONS), "views at rest")
        b_before = rows(
            database_url,
            "SELECT * FROM payments WHERE merchant_id = %s ORDER BY id",
            decode(Kind.MERCHANT, b_id),
        )
        b_ledger = ledger_of(database_url, decode(Kind.MERCHANT, b_id))

        ledger_before = ledger_of(database_url, merchant_a)  # at rest, before the load
        platform_before = platform_ledger(database_url, cell_1_url)
        load = Load(a)
        load.thread.start()
        wait_for(lambda: len(load.acknowledged) >= 3, "payments under load")
        try:
            moved = move_merchant(two_cells, merchant_a, "cell-1", timeout_s=30)
            time.sleep(1.5)  # payments after the switch, into the new cell
        finally:
            load.stop.set()
            load.thread.join(timeout=10)
        wait_for(lambda: at_rest(cell_1_url, a_id), "paid in the new cell", within_s=20)
        assert load.refused_while_moving > 0  # writes paused for the switch
        native = rows(
            cell_1_url,
            "SELECT count(*) FROM paysource_events WHERE originator_version = 1"
            " AND topic LIKE %s AND notification_id > %s",
            "%:Payment.Created",
            moved.positions[1],
        )
        assert native[0][0] > 0  # and payments were taken by the new cell after the switch
        print(  # the load's shape, for whoever reads `-s`
            f"load: {len(load.acknowledged)} payments, {load.refused_while_moving} refusals"
            f" (503), {native[0][0]} after the switch; {moved.aggregates} objects copied"
        )
        assert (moved.source, moved.target) == ("cell-0", "cell-1")

        # Every acknowledged payment is in the target, once; none in the source's views.
        paid_ids = before_ids + [body["id"] for body in load.acknowledged.values()]
        uuids = [decode(Kind.PAYMENT, p) for p in paid_ids]
        created = rows(
            cell_1_url,
            "SELECT originator_id, count(*) FROM paysource_events"
            " WHERE originator_version = 1 AND originator_id = ANY(%s) GROUP BY 1",
            uuids,
        )
        assert sorted(r[0] for r in created) == sorted(uuids)
        assert {r[1] for r in created} == {1}
        in_target = rows(cell_1_url, "SELECT id FROM payments WHERE merchant_id = %s", merchant_a)
        assert sorted(r[0] for r in in_target) == sorted(uuids)
        fenced = "SELECT state FROM moved_out_merchants WHERE merchant_id = %s"
        assert rows(database_url, fenced, merchant_a) == [("moved",)]
        assert rows(cell_1_url, fenced, merchant_a) == []
        for table in ("payments", "refunds", "settlements", "journal_entries", "event_index"):
            left = rows(
                database_url, f"SELECT count(*) FROM {table} WHERE merchant_id = %s", merchant_a
            )
            assert left == [(0,)], table
        listed = a.get("/v1/payments", limit=100).json()["data"]
        assert sorted(p["id"] for p in listed) == sorted(paid_ids)
        assert len(a.get("/v1/settlements").json()["data"]) == 1
        assert len(a.get("/v1/refunds").json()["data"]) == 1

        # The ledger: as before the load, plus what the load's payments added.
        new = [decode(Kind.PAYMENT, body["id"]) for body in load.acknowledged.values()]
        after = ledger_of(cell_1_url, merchant_a)
        added = ledger_of_payments(cell_1_url, new)
        for account, values in after.items():
            expected = ledger_before.get(account, (0, 0, 0, 0))
            plus = added.get(account, (0, 0, 0, 0))
            got = tuple(v - p for v, p in zip(values, plus, strict=True))
            assert got == expected, account

        # The platform's accounts, over both cells: counted once, plus the new fees.
        added = ledger_of_payments(cell_1_url, new, platform=True)
        for account, values in platform_ledger(database_url, cell_1_url).items():
            plus = added.get(account, (0, 0, 0, 0))
            got = tuple(v - p for v, p in zip(values, plus, strict=True))
            assert got == platform_before.get(account, (0, 0, 0, 0)), account

        # No acquirer call made twice; no webhook delivered twice.
        calls = rows(
            database_url,
            "SELECT payment_id, kind, requests FROM acquirer_sim.operations"
            " WHERE payment_id = ANY(%s)",
            [*paid_ids, *map(str, uuids)],  # whichever form the simulator keeps
        )
        assert len({r[0] for r in calls}) == len(paid_ids)  # each payment went out
        assert all(r[2] == 1 for r in calls), calls
        assert len({(r[0], r[1]) for r in calls}) == len(calls)
        wait_for(lambda: len(receiver.delivered()) >= len(paid_ids), "webhooks of new payments")
        time.sleep(1.0)
        ids = [r.event["id"] for r in receiver.delivered()]
        assert len(ids) == len(set(ids)), "a webhook was delivered twice"

    # A rebuild of the source's read models replays A's events but keeps them out.
    platform = "SELECT * FROM ledger_accounts WHERE merchant_id IS NULL ORDER BY 1, 2"
    platform_in_source = rows(database_url, platform)
    source = two_cells.router.directory
    rebuild_all(ALL_READ_MODELS, source.store, source.read.datastore)
    assert rows(
        database_url, "SELECT count(*) FROM payments WHERE merchant_id = %s", merchant_a
    ) == [(0,)]
    assert rows(database_url, platform) == platform_in_source

    # Merchant B, on the source, is untouched.
    assert (
        rows(
            database_url,
            "SELECT * FROM payments WHERE merchant_id = %s ORDER BY id",
            decode(Kind.MERCHANT, b_id),
        )
        == b_before
    )
    assert ledger_of(database_url, decode(Kind.MERCHANT, b_id)) == b_ledger
    assert sorted(p["id"] for p in b.get("/v1/payments").json()["data"]) == sorted(b_ids)
    # An old key, retried after the move (the Redis fast path forgotten), replays.
    redis.Redis.from_url(settings.redis_url or "").flushall()
    again = a.pay(5000, key=first_key)
    assert again.status_code in (200, 201, 202), again.text
    assert again.json()["id"] == first.json()["id"]


def test_a_move_to_a_cell_that_is_down_aborts_and_the_merchant_stays(
    client: TestClient,
    two_cells: Container,
    database_url: str,
    second_cluster: Any,
    cell_1_url: str,
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")
    paid = a.pay(1500)
    running = Worker(two_cells)  # stopped before the drop: it would wait on the database
    running.start()
    try:
        wait_for(lambda: at_rest(database_url, a_id), "paid")
        time.sleep(1.0)  # and the followers after the pipeline
    finally:
        running.stop()
    name = cell_1_url.rsplit("/", 1)[1]
    with psycopg.connect(second_cluster.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    merchant_a = decode(Kind.MERCHANT, a_id)
    with pytest.raises(psycopg.OperationalError):
        move_merchant(two_cells, merchant_a, "cell-1", timeout_s=10)
    placed = rows(
        database_url,
        "SELECT cell, moving_to FROM merchant_cells WHERE merchant_id = %s",
        merchant_a,
    )
    assert placed == [("cell-0", None)]
    assert rows(database_url, "SELECT * FROM moved_out_merchants") == []  # sweeps take it
    time.sleep(1.1)  # the placements' cache
    more = a.pay(900)
    assert more.status_code in (201, 202), more.text  # writes are taken again
    assert a.get(f"/v1/payments/{paid.json()['id']}").status_code == 200


def test_a_move_refuses_when_the_merchant_is_already_there(
    client: TestClient, two_cells: Container
) -> None:
    _, a_id = merchant_in(client, "cell-1", "A")
    with pytest.raises(MoveRefused, match="already"):
        move_merchant(two_cells, decode(Kind.MERCHANT, a_id), "cell-1")


def test_the_cells_move_command_moves_a_merchant_and_says_why_when_it_cannot(
    client: TestClient, settings: Settings, cell_1_url: str, database_url: str
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")  # nothing done yet: nothing to wait for
    env = {**env_for(settings), "PAYSOURCE_CELLS": f"cell-1={cell_1_url}"}
    refused = paysource("cells", "move", a_id, "--to", "cell-9", env=env)
    assert refused.returncode == 1, refused.stdout
    assert "no cell named 'cell-9'" in refused.stderr
    neither = paysource("cells", "move", a_id, env=env)
    assert neither.returncode == 2, neither.stdout
    assert "give --to CELL to move, or --recover" in neither.stderr
    nothing = paysource("cells", "move", a_id, "--recover", env=env)
    assert nothing.returncode == 1, nothing.stdout
    assert "nothing recovered: no move of this merchant is under way" in nothing.stderr
    moved = paysource("cells", "move", a_id, "--to", "cell-1", env=env)
    assert moved.returncode == 0, moved.stderr
    assert f"moved {a_id} from cell-0 to cell-1" in moved.stdout
    placed = rows(
        database_url,
        "SELECT cell, moving_to FROM merchant_cells WHERE merchant_id = %s",
        decode(Kind.MERCHANT, a_id),
    )
    assert placed == [("cell-1", None)]
    time.sleep(1.1)  # the API's placements cache
    paid = a.pay(1200)
    assert paid.status_code in (201, 202), paid.text
    assert decode(Kind.PAYMENT, paid.json()["id"]) in payment_ids_in(cell_1_url)


CREATE = (
    'mutation { createPayment(input: {amount: "100", currency: "USD", source: "tok_visa"},'
    ' idempotencyKey: "gql-1") { __typename ... on Error { code message } } }'
)


def test_the_source_sweeps_leave_a_moving_merchant_alone(
    client: TestClient, two_cells: Container, database_url: str
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")
    _, b_id = merchant_in(client, "cell-0", "B")  # nothing to settle: never due
    assert a.pay(1000).status_code in (201, 202)
    drain(two_cells)
    settlements = two_cells.router.directory.read.settlements
    until = datetime.now(UTC) + timedelta(seconds=1)
    merchant_a = decode(Kind.MERCHANT, a_id)
    assert merchant_a in {m for m, _ in settlements.due(until=until)}
    moves.fence(database_url, merchant_a, "cell-1")
    assert merchant_a not in {m for m, _ in settlements.due(until=until)}
    read = two_cells.router.directory.read  # the expiry sweeps' queries filter it too
    assert read.payments.expired_holds(authorized_before=until, limit=10) == []
    assert read.disputes.past_due(now=until) == []
    moves.unfence(database_url, merchant_a)
    assert merchant_a in {m for m, _ in settlements.due(until=until)}
    assert decode(Kind.MERCHANT, b_id) not in {m for m, _ in settlements.due(until=until)}


def test_a_write_that_passed_routing_before_the_mark_is_moved_along_or_refused(
    client: TestClient,
    two_cells: Container,
    worker: Worker,
    cell_1_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command routed before the mark (a slow request, a group commit still queued, a
    sweep) commits in the source late: before the move's seal, the move takes it along;
    after it, the source refuses it, whatever aggregate it writes."""
    a, a_id = merchant_in(client, "cell-0", "A")
    made = a.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=new_key())
    assert made.status_code == 201, made.text
    merchant, ada = decode(Kind.MERCHANT, a_id), decode(Kind.CUSTOMER, made.json()["id"])
    source = two_cells.router.named("cell-0")
    assert source is not None
    meta = Meta(ActorKind.MERCHANT, a_id)
    late: list[UUID] = []
    at_rest, copy = cell_move._at_rest, moves.copy_merchant

    def at_rest_then_a_late_write(*args: Any, **kwargs: Any) -> Any:
        found = at_rest(*args, **kwargs)
        if not late:  # committed after the last look
            late.append(created(source.store, merchant, "Late").id)
        return found

    def late_writes_then_copy(*args: Any, **kwargs: Any) -> Any:
        with pytest.raises(MerchantMoving):
            created(source.store, merchant, "Later")
        customer = source.store.get(ada, Customer)
        assert customer is not None
        customer.update(name="Ada L.", email=None, metadata={}, meta=meta)
        with pytest.raises(MerchantMoving):  # as a worker saves: not group-committed
            source.store.save(customer, tracking=Tracking("straggler", 1))
        return copy(*args, **kwargs)

    monkeypatch.setattr(cell_move, "_at_rest", at_rest_then_a_late_write)
    monkeypatch.setattr(moves, "copy_merchant", late_writes_then_copy)
    move_merchant(two_cells, merchant, "cell-1", timeout_s=20)
    copied = "SELECT count(*) FROM paysource_events WHERE originator_id = ANY(%s)"
    assert rows(cell_1_url, copied, [late[0], ada]) == [(2,)]


def test_while_a_move_is_marked_writes_get_503_and_reads_continue(
    client: TestClient, two_cells: Container
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")
    paid = a.pay(1000)
    assert paid.status_code in (201, 202), paid.text
    placements = two_cells.router.placements
    assert placements is not None
    merchant_a = decode(Kind.MERCHANT, a_id)
    placements.mark_moving(merchant_a, "cell-0", "cell-1")
    time.sleep(placements.ttl_s + 0.1)  # as every API process: within its cache's second
    refused = a.pay(1000)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/merchant_moving")
    assert int(refused.headers["Retry-After"]) > 0
    graphql = a.post("/graphql", {"query": CREATE}).json()["data"]["createPayment"]
    assert graphql == {
        "__typename": "RetryableError",
        "code": "merchant_moving",
        "message": graphql["message"],
    }
    assert a.get(f"/v1/payments/{paid.json()['id']}").status_code == 200
    assert a.get("/v1/payments").status_code == 200
    with pytest.raises(InvalidValue, match="being moved already"):
        placements.mark_moving(merchant_a, "cell-0", "cell-1")
    placements.clear_moving(merchant_a)
    time.sleep(placements.ttl_s + 0.1)
    assert a.pay(1000).status_code in (201, 202)


def test_a_placement_is_trusted_for_its_ttl_then_read_again(database_url: str) -> None:
    clock = [0.0]
    placements = PostgresPlacements(
        database_url, ["cell-0", "cell-1"], ttl_s=1.0, now=lambda: clock[0]
    )
    merchant = uuid4()
    try:
        assert placements.place(merchant, "cell-0") == "cell-0"
        with psycopg.connect(database_url, autocommit=True) as conn:  # another process
            conn.execute(
                "UPDATE merchant_cells SET moving_to = 'cell-1' WHERE merchant_id = %s",
                (merchant,),
            )
        clock[0] = 0.9
        assert placements.placement(merchant) == Placement("cell-0")  # cached
        assert placements.cached(merchant) == Placement("cell-0")
        clock[0] = 1.0
        assert placements.cached(merchant) is None  # async callers look up in a thread
        assert placements.placement(merchant) == Placement("cell-0", "cell-1")
        assert placements.cached(merchant) == Placement("cell-0", "cell-1")
    finally:
        placements.close()


def test_async_callers_route_from_this_seconds_placement_or_not_at_all(
    two_cells: Container, client: TestClient
) -> None:
    """`CellRouter.known` answers without I/O (what the event loop may call), refusing
    writes of a moving merchant as `for_write` does, or says it does not know."""
    _, a_id = merchant_in(client, "cell-0", "A")
    router = two_cells.router
    placements = router.placements
    assert placements is not None
    merchant_a = decode(Kind.MERCHANT, a_id)
    assert router.for_merchant(merchant_a).name == "cell-0"  # looked up: known now
    known = router.known(merchant_a, write=True)
    assert known is not None
    assert known.name == "cell-0"
    placements.mark_moving(merchant_a, "cell-0", "cell-1")
    time.sleep(placements.ttl_s + 0.1)
    assert router.known(merchant_a, write=True) is None  # its second is up
    with pytest.raises(MerchantMoving):
        router.for_write(merchant_a)
    with pytest.raises(MerchantMoving):
        router.known(merchant_a, write=True)
    reading = router.known(merchant_a, write=False)
    assert reading is not None
    assert reading.name == "cell-0"
    placements.clear_moving(merchant_a)


def test_a_move_killed_before_its_switch_is_undone_or_finished_by_recover(
    client: TestClient,
    two_cells: Container,
    database_url: str,
    cell_1_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`cells move --recover`: a move that died before its copy is undone (writes are
    taken in the source again); one that died after its copy committed is finished."""
    a, a_id = merchant_in(client, "cell-0", "A")  # nothing done yet: nothing to wait for
    merchant_a = decode(Kind.MERCHANT, a_id)
    placements = two_cells.router.placements
    assert placements is not None
    placed = "SELECT cell, moving_to FROM merchant_cells WHERE merchant_id = %s"

    placements.mark_moving(merchant_a, "cell-0", "cell-1")  # then killed, before the copy
    moves.fence(database_url, merchant_a, "cell-1")
    with moves.move_lock(database_url, merchant_a), pytest.raises(MoveRefused, match="running"):
        recover_move(two_cells, merchant_a)  # a live move is never recovered under it
    assert recover_move(two_cells, merchant_a).startswith("undone")
    assert rows(database_url, placed, merchant_a) == [("cell-0", None)]
    assert rows(database_url, "SELECT * FROM moved_out_merchants") == []
    with pytest.raises(MoveRefused, match="no move"):
        recover_move(two_cells, merchant_a)

    def killed(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # after the copy committed, before the switch

    first = a.pay(1000)  # something to copy: a copy of nothing leaves no trace to find
    assert first.status_code in (201, 202), first.text
    customer = a.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=new_key())
    assert customer.status_code == 201, customer.text
    running = Worker(two_cells)
    running.start()
    try:
        wait_for(lambda: at_rest(database_url, a_id), "paid")
        time.sleep(1.0)  # and the followers after the pipeline
    finally:
        running.stop()
    monkeypatch.setattr(cell_move, "_switch", killed)
    with pytest.raises(KeyboardInterrupt):
        move_merchant(two_cells, merchant_a, "cell-1", timeout_s=10)
    monkeypatch.undo()
    assert rows(database_url, placed, merchant_a) == [("cell-0", "cell-1")]
    assert recover_move(two_cells, merchant_a).startswith("finished")
    assert rows(database_url, placed, merchant_a) == [("cell-1", None)]
    shredded = "SELECT wrapped_key IS NULL FROM customer_keys WHERE subject_id = %s"
    customer_id = decode(Kind.CUSTOMER, customer.json()["id"])
    assert rows(database_url, shredded, customer_id) == [(True,)]  # the source's copy
    assert rows(cell_1_url, shredded, customer_id) == [(False,)]
    time.sleep(1.1)  # the API's placements cache
    paid = a.pay(1200)
    assert paid.status_code in (201, 202), paid.text
    assert decode(Kind.PAYMENT, paid.json()["id"]) in payment_ids_in(cell_1_url)
    assert a.get(f"/v1/payments/{first.json()['id']}").status_code == 200  # from cell-1
    path = f"/v1/customers/{customer.json()['id']}"
    renamed = a.post(path, {"name": "Ada King"}, Idempotency_Key=new_key())
    assert renamed.status_code == 200, renamed.text
    # Staff read across cells: from its cell now, not from the history left in cell-0.
    assert admin(client).get(path).json()["name"] == "Ada King"


def test_a_move_that_fails_after_its_copy_committed_is_kept_for_recover(
    client: TestClient,
    two_cells: Container,
    worker: Worker,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answer to the copy's COMMIT lost (a dropped connection, Ctrl-C): undoing the
    move would let the source take writes the target holds a copy of."""
    a, a_id = merchant_in(client, "cell-0", "A")
    made = a.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=new_key())
    assert made.status_code == 201, made.text  # something to copy
    merchant = decode(Kind.MERCHANT, a_id)
    copy = moves.copy_merchant

    def copied_then_lost(*args: Any, **kwargs: Any) -> Any:
        copy(*args, **kwargs)
        raise psycopg.OperationalError("the connection dropped before the commit's answer")

    monkeypatch.setattr(moves, "copy_merchant", copied_then_lost)
    with pytest.raises(cell_move.MoveUnfinished, match="--recover"):
        move_merchant(two_cells, merchant, "cell-1", timeout_s=20)
    monkeypatch.undo()
    placed = "SELECT cell, moving_to FROM merchant_cells WHERE merchant_id = %s"
    assert rows(database_url, placed, merchant) == [("cell-0", "cell-1")]  # still marked
    sealed = "SELECT count(*) FROM moved_out_ids WHERE id = %s"
    assert rows(database_url, sealed, merchant) == [(1,)]
    assert recover_move(two_cells, merchant).startswith("finished")
    assert rows(database_url, placed, merchant) == [("cell-1", None)]


def test_a_move_sends_no_webhook_for_events_from_before_an_endpoint_existed(
    client: TestClient,
    two_cells: Container,
    worker: Worker,
    database_url: str,
    cell_1_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The copied webhook queue is the source's: the target's outbox queues nothing for
    copied events (not even to endpoints registered after them, which the source never
    sent them to); only events written in the target after the move are fanned out.

    It failed twice (CI at stop 26, a fresh clone at stop 28) finding deliveries for one
    object more than the new payment, cause unseen. Two ways that happens without a bug
    are now ruled out: the source's queue is read as the move copies it (an earlier
    snapshot missed deliveries of any event the worker wrote in between, which the move
    rightly copies), and the check is by event (a late event the worker writes in the
    target after the move is fanned out there, rightly). Seen failing when the outbox
    stops skipping copied events."""
    a, a_id = merchant_in(client, "cell-0", "A")
    merchant_a = decode(Kind.MERCHANT, a_id)
    deliveries = (
        "SELECT id, event_id, endpoint_id FROM webhook_deliveries"
        " WHERE merchant_id = %s ORDER BY id"
    )
    old = a.pay(5000).json()["id"]
    wait_for(lambda: at_rest(database_url, a_id), "paid before the endpoint")
    with Receiver() as receiver:
        hook = a.post("/v1/webhook_endpoints", {"url": receiver.url, "events": ["*"]})
        assert hook.status_code == 201, hook.text
        before = a.pay(1000).json()["id"]
        wait_for(lambda: at_rest(database_url, a_id), "paid after the endpoint")

        def all_delivered() -> bool:
            queued = rows(database_url, deliveries, merchant_a)
            return len(receiver.delivered()) >= len(queued) > 0

        # The outbox trails the projections: `at_rest` can hold while it has yet to queue
        # the last events' deliveries, which the move would then copy (and this test
        # would count as queued by the target).
        wait_for(lambda: outbox_done(database_url), "the source's outbox at rest")
        wait_for(all_delivered, "the source's webhooks delivered")
        in_source: list[Any] = []
        copy = moves.copy_merchant

        def copy_after_a_look(*args: Any, **kwargs: Any) -> Any:
            in_source.extend(rows(database_url, deliveries, merchant_a))
            return copy(*args, **kwargs)

        monkeypatch.setattr(moves, "copy_merchant", copy_after_a_look)
        move_merchant(two_cells, merchant_a, "cell-1", timeout_s=20)
        # The outbox follows the log in order: once a payment made after the move is
        # queued in the target, every copied event before it has been handled.
        after = a.pay(2000).json()["id"]

        def queued_for(payment_id: str) -> bool:
            query = "SELECT count(*) FROM webhook_deliveries WHERE object_id = %s"
            return bool(rows(cell_1_url, query, decode(Kind.PAYMENT, payment_id))[0][0])

        wait_for(lambda: queued_for(after), "the new payment's webhooks queued in the target")
        in_target = rows(cell_1_url, deliveries, merchant_a)
        copied = set(in_source)
        added = [r for r in in_target if r not in copied]
        assert copied <= set(in_target)
        # What the target's outbox queued: for events written in the target since the
        # move (the new payment's, and any the worker wrote late), none it copied.
        fanned_out = rows(
            cell_1_url,
            "SELECT d.object_id, i.position, EXISTS (SELECT 1 FROM moved_in_events m"
            "  WHERE i.position BETWEEN m.first_position AND m.last_position)"
            " FROM webhook_deliveries d JOIN event_index i ON i.event_id = d.event_id"
            " WHERE d.id = ANY(%s)",
            [r[0] for r in added],
        )
        assert len(fanned_out) == len(added)
        assert not [row for row in fanned_out if row[2]], fanned_out
        assert decode(Kind.PAYMENT, after) in {row[0] for row in fanned_out}
        wait_for(lambda: len(receiver.delivered()) >= len(in_target), "delivered after")
        time.sleep(1.0)
        objects = [r.event["data"]["object"]["id"] for r in receiver.delivered()]
        assert old not in objects
        assert before in objects
        assert after in objects
        ids = [r.event["id"] for r in receiver.delivered()]
        assert len(ids) == len(set(ids)), "a webhook was delivered twice"


def test_a_merchant_moved_in_can_move_on_but_not_back_to_the_cell_it_left(
    client: TestClient,
    two_cells: Container,
    worker: Worker,
    database_url: str,
    cell_1_url: str,
) -> None:
    """cell-0 → cell-1, then: cell-1's followers skipped the copied events yet are
    recorded past them (what a move onward waits for: else it timed out, "behind"), and
    a move back to cell-0, which keeps the merchant's events as history, is refused at
    once, before its writes pause."""
    a, a_id = merchant_in(client, "cell-0", "A")
    merchant_a = decode(Kind.MERCHANT, a_id)
    assert a.pay(1000).status_code in (201, 202)
    wait_for(lambda: at_rest(database_url, a_id), "paid")
    moved = move_merchant(two_cells, merchant_a, "cell-1", timeout_s=10)
    cell_1 = two_cells.router.named("cell-1")
    assert cell_1 is not None
    # Nothing written in cell-1 since: the followers' positions are the skips' alone.
    ids: set[UUID] = set()
    deadline = time.monotonic() + 5
    followers = cell_move.source_followers(two_cells, cell_1)
    _, last = cell_move._at_rest(
        two_cells, cell_1, merchant_a, followers, found=ids, scanned=0, deadline=deadline, say=print
    )
    assert (len(ids), last) == (moved.aggregates, moved.positions[1])

    started = time.monotonic()
    with pytest.raises(MoveRefused, match=r"left cell-0 .*move it to a cell it has not been in"):
        move_merchant(two_cells, merchant_a, "cell-0", timeout_s=10)
    assert time.monotonic() - started < 1.0  # before the mark and its wait
    placed = "SELECT cell, moving_to FROM merchant_cells WHERE merchant_id = %s"
    assert rows(database_url, placed, merchant_a) == [("cell-1", None)]
    assert rows(cell_1_url, "SELECT * FROM moved_out_merchants") == []  # never fenced
    paid = a.pay(1200)  # writes never paused
    assert paid.status_code in (201, 202), paid.text
    assert decode(Kind.PAYMENT, paid.json()["id"]) in payment_ids_in(cell_1_url)
