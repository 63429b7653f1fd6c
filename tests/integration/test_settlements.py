"""Settlements end to end on Postgres: amounts, payouts, failures and compensation."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from paysource.adapters.bank_sim import BankBehaviour, SimulatedBank
from paysource.adapters.clock import ManualClock
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.settlements import NothingToSettle, SettlementService, WaitingItems
from paysource.bootstrap import Cell, Container
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.schedule import DailySchedule
from paysource.domain.settlement import Item, Settlement, SettlementStatus
from paysource.processes.payouts import PayoutProcessor, PayoutRetry
from paysource.processes.settlement_schedule import SettlementScheduler
from tests.conftest import ADMIN_KEY
from tests.helpers import Api, admin, drain, new_key


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


def bank(container: Container) -> SimulatedBank:
    assert isinstance(container.bank, SimulatedBank)
    return container.bank


def merchant_id(merchant: Api) -> UUID:
    return UUID(hex=merchant.get("/v1/balance").json()["merchant"].removeprefix("mer_"))


def later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


def close(cell: Cell, merchant: UUID, until: datetime | None = None) -> Settlement:
    return cell.settlements.close(
        merchant_id=merchant,
        currency="USD",
        until=until or later(),
        meta=Meta(ActorKind.ADMIN, "test"),
    ).value


def pay_out(container: Container, cell: Cell) -> None:
    processor = PayoutProcessor(
        cell.store, container.bank, container.clock, retry=PayoutRetry(2, 0.01)
    )
    run_until_caught_up(Follower(cell.store, processor, wakeup=Wakeup()))
    drain(container)


def fee(amount: int) -> int:
    # 2.9 % rounded half-even to the cent, plus 0.30.
    return round(Fraction(amount * 290, 10000)) + 30


def balances(merchant: Api) -> dict[str, int]:
    body = merchant.get("/v1/balance").json()
    return {
        kind: body[kind][0]["amount"] if body[kind] else 0
        for kind in ("available", "pending", "paid_out")
    }


def test_a_settlement_pays_out_captures_less_refunds_and_fees(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    paid = [merchant.pay(amount).json()["id"] for amount in (10_000, 4_000)]
    merchant.pay(3_000, capture_method="manual")  # a hold is not settled
    drain(container)
    merchant.post("/v1/refunds", {"payment": paid[0], "amount": 1_500}, Idempotency_Key=new_key())
    drain(container)

    settlement = close(cell, merchant_id(merchant))
    pay_out(container, cell)

    assert (settlement.gross_minor, settlement.refunds_minor) == (14_000, 1_500)
    assert settlement.fees_minor == fee(10_000) + fee(4_000)
    assert settlement.net_minor == 14_000 - 1_500 - settlement.fees_minor
    final = cell.settlements.get(merchant_id=None, settlement=settlement.id)
    assert final.status is SettlementStatus.PAID
    assert balances(merchant) == {
        "available": 0,
        "pending": 3_000,
        "paid_out": settlement.net_minor,
    }
    payouts = bank(container).payouts(key_prefix=str(settlement.id))
    assert [(p["status"], p["amount_minor"]) for p in payouts] == [("paid", settlement.net_minor)]
    with pytest.raises(NothingToSettle):
        close(cell, merchant_id(merchant))
    # The statement's payout line names the settlement, not a payment.
    today = datetime.now(UTC).date().isoformat()
    report = merchant.get("/v1/reports/statement", **{"from": today, "to": today}).json()
    [payout] = [ln for ln in report["currencies"][0]["lines"] if ln["type"] == "payout"]
    assert (payout["settlement"], payout["payment"]) == (f"stl_{settlement.id.hex}", None)
    assert payout["amount"] == -settlement.net_minor


def test_a_refused_payout_fails_releases_its_items_and_restores_the_balances(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    for amount in (5_000, 7_000):
        merchant.pay(amount)
    drain(container)
    owner = merchant_id(merchant)
    before = balances(merchant)
    bank(container).behaviour = BankBehaviour(refuse_merchants=frozenset({owner}))

    failed = close(cell, owner)
    pay_out(container, cell)

    failed = cell.settlements.get(merchant_id=None, settlement=failed.id)
    assert (failed.status, failed.failure_reason) == (SettlementStatus.FAILED, "account_closed")
    assert balances(merchant) == before
    statement_types = [
        line["type"]
        for line in merchant.get(
            "/v1/reports/statement",
            **{
                "from": datetime.now(UTC).date().isoformat(),
                "to": datetime.now(UTC).date().isoformat(),
            },
        ).json()["currencies"][0]["lines"]
    ]
    assert "payout" not in statement_types

    bank(container).behaviour = BankBehaviour()
    retried = close(cell, owner)
    pay_out(container, cell)

    assert {i.ref_id for i in retried.items} == {i.ref_id for i in failed.items}
    assert (
        cell.settlements.get(merchant_id=None, settlement=retried.id).status
        is SettlementStatus.PAID
    )
    assert balances(merchant)["paid_out"] == retried.net_minor == before["available"]


def test_a_bank_that_never_answers_fails_the_payout_and_can_never_pay_it_late(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    merchant.pay(8_000)
    drain(container)
    owner = merchant_id(merchant)
    bank(container).behaviour = BankBehaviour(timeout_merchants=frozenset({owner}))

    settlement = close(cell, owner)
    pay_out(container, cell)

    failed = cell.settlements.get(merchant_id=None, settlement=settlement.id)
    assert (failed.status, failed.failure_reason) == (SettlementStatus.FAILED, "bank_timeout")
    bank(container).behaviour = BankBehaviour()
    late = container.bank.payout(  # the first payout's key, arriving late
        idempotency_key=f"{settlement.id}:payout",
        merchant_id=owner,
        amount=Money(failed.net_minor, "USD"),
    )
    assert late.accepted is False
    again = close(cell, owner)
    pay_out(container, cell)
    paid = [p for p in bank(container).payouts() if p["status"] == "paid"]
    assert [p["key"] for p in paid] == [f"{again.id}:payout"]


def test_a_net_debit_is_carried_forward_and_taken_from_the_next_payout(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    first = merchant.pay(10_000).json()["id"]
    drain(container)
    owner = merchant_id(merchant)
    paid = close(cell, owner)
    pay_out(container, cell)
    merchant.post("/v1/refunds", {"payment": first, "amount": 6_000}, Idempotency_Key=new_key())
    drain(container)

    debit = close(cell, owner)
    pay_out(container, cell)

    assert debit.status is SettlementStatus.CARRIED_FORWARD
    assert debit.net_minor == -6_000
    assert bank(container).payouts(key_prefix=str(debit.id)) == []
    merchant.pay(20_000)
    drain(container)
    next_one = close(cell, owner)
    pay_out(container, cell)

    assert next_one.carried_in_minor == -6_000
    assert next_one.net_minor == 20_000 - fee(20_000) - 6_000
    total_paid = paid.net_minor + next_one.net_minor
    assert total_paid == 10_000 + 20_000 - fee(10_000) - fee(20_000) - 6_000
    assert balances(merchant) == {"available": 0, "pending": 0, "paid_out": total_paid}


def test_concurrent_runs_never_settle_an_item_twice(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    for amount in range(1_000, 1_020):
        merchant.pay(amount)
    drain(container)
    owner = merchant_id(merchant)
    cutoffs = [later() + timedelta(microseconds=n % 3) for n in range(8)]  # some shared
    barrier = threading.Barrier(len(cutoffs))
    made: list[Settlement] = []

    def run(cutoff: datetime) -> None:
        barrier.wait()
        with contextlib.suppress(NothingToSettle):
            made.append(close(cell, owner, cutoff))

    threads = [threading.Thread(target=run, args=(c,)) for c in cutoffs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    distinct = {s.id: s for s in made}
    claimed = [item.ref_id for s in distinct.values() for item in s.items]
    assert len(claimed) == len(set(claimed)) == 20
    assert len(distinct) <= 3


class CommitsInBetween:
    """Waiting items that let another run of the same request commit right after the
    nomination: the window where a concurrent identical request used to find nothing."""

    def __init__(self, items: WaitingItems, other_run: Callable[[], object]) -> None:
        self._items = items
        self._other_run: Callable[[], object] | None = other_run

    def waiting_items(self, **query: Any) -> list[Item]:
        found = self._items.waiting_items(**query)
        if self._other_run is not None:
            run, self._other_run = self._other_run, None
            run()
        return found

    def due(self, *, until: datetime) -> list[tuple[UUID, str]]:
        return self._items.due(until=until)


def test_a_concurrent_identical_request_is_answered_with_its_settlement(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    merchant.pay(1_000)
    drain(container)
    owner, cutoff = merchant_id(merchant), later()
    first: list[Settlement] = []
    racing = SettlementService(
        cell.store,
        CommitsInBetween(cell.read.settlements, lambda: first.append(close(cell, owner, cutoff))),
    )

    outcome = racing.close(
        merchant_id=owner, currency="USD", until=cutoff, meta=Meta(ActorKind.ADMIN, "test")
    )

    assert outcome.replayed
    assert outcome.value.id == first[0].id


def test_the_schedule_closes_due_settlements_once_per_cutoff(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    merchant.pay(2_500)
    drain(container)
    clock = ManualClock(datetime.now(UTC) + timedelta(days=1))
    scheduler = SettlementScheduler(
        cell.settlements, cell.read.settlements, clock, DailySchedule(0, 0)
    )

    first = scheduler.tick()
    drain(container)
    again = scheduler.tick()

    assert [s.merchant_id for s in first] == [merchant_id(merchant)]
    assert first[0].cutoff == clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert again == []


def test_settlements_are_merchant_scoped_and_closed_only_by_staff(
    client: TestClient, container: Container, cell: Cell
) -> None:
    acme = admin(client).merchant("Acme")
    other = admin(client).merchant("Other")
    acme.pay(1_000)
    drain(container)
    body = {
        "merchant": acme.get("/v1/balance").json()["merchant"],
        "currency": "USD",
        "until": datetime.now(UTC).isoformat(),
    }

    refused = acme.post("/v1/settlements", body)
    created = client.post(
        "/v1/settlements", json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    again = client.post(
        "/v1/settlements", json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    drain(container)

    assert refused.status_code == 403
    assert (created.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    settlement = created.json()["id"]
    assert acme.get(f"/v1/settlements/{settlement}").status_code == 200
    assert other.get(f"/v1/settlements/{settlement}").status_code == 404
    assert [s["id"] for s in acme.get("/v1/settlements").json()["data"]] == [settlement]
    assert other.get("/v1/settlements").json()["data"] == []
    # Naming a merchant: its own is fine, another's is unknown, as on the reports.
    own = acme.get("/v1/settlements", merchant=body["merchant"]).json()["data"]
    assert [s["id"] for s in own] == [settlement]
    assert other.get("/v1/settlements", merchant=body["merchant"]).status_code == 404


def test_a_keyed_close_answers_its_first_answer_again_and_refuses_another_body(
    client: TestClient, container: Container, cell: Cell
) -> None:
    staff = admin(client)
    acme = staff.merchant("Acme")
    acme.pay(1_000)
    drain(container)
    body = {
        "merchant": acme.get("/v1/balance").json()["merchant"],
        "currency": "USD",
        "until": datetime.now(UTC).isoformat(),
    }
    key = new_key()

    first = staff.post("/v1/settlements", body, Idempotency_Key=key)
    pay_out(container, cell)  # the settlement moves on: a replay still shows it closed
    again = staff.post("/v1/settlements", body, Idempotency_Key=key)
    acme.pay(2_000)
    drain(container)
    later_body = {**body, "until": datetime.now(UTC).isoformat()}
    reused = staff.post("/v1/settlements", later_body, Idempotency_Key=key)

    assert (first.status_code, first.json()["status"]) == (201, "closed"), first.text
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
    assert again.json() == first.json()
    assert reused.status_code == 422, reused.text
    assert reused.json()["type"].endswith("/idempotency_key_reused")
    assert [s["id"] for s in acme.get("/v1/settlements").json()["data"]] == [first.json()["id"]]

    # A keyed close that finds the cut-off's settlement closed already answers 200, as
    # do its replays; the key is then taken by that request.
    found_key = new_key()
    found = staff.post("/v1/settlements", body, Idempotency_Key=found_key)
    found_again = staff.post("/v1/settlements", body, Idempotency_Key=found_key)
    other = staff.post("/v1/settlements", later_body, Idempotency_Key=found_key)
    assert (found.status_code, found.headers.get("Idempotent-Replayed")) == (200, "true")
    assert (found_again.status_code, found_again.json()) == (200, found.json())
    assert found.json()["status"] == "paid"
    assert other.status_code == 422, other.text


def test_a_cut_off_before_year_one_in_utc_is_an_invalid_value_not_a_crash(
    client: TestClient, container: Container
) -> None:
    acme = admin(client).merchant("Acme")
    merchant = acme.get("/v1/balance").json()["merchant"]
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    answer = client.post(
        "/v1/settlements",
        json={"merchant": merchant, "currency": "USD", "until": "0001-01-01T00:00:00+14:00"},
        headers=headers,
    )

    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"].endswith("/invalid_value")
    assert [e["field"] for e in problem["errors"]] == ["until"]


def test_a_cut_off_in_the_future_is_refused_and_one_instant_is_one_settlement(
    client: TestClient, container: Container, cell: Cell
) -> None:
    acme = admin(client).merchant("Acme")
    acme.pay(1_000)
    drain(container)
    merchant = acme.get("/v1/balance").json()["merchant"]
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    future = {
        "merchant": merchant,
        "currency": "USD",
        "until": (now + timedelta(hours=1)).isoformat(),
    }

    refused = client.post("/v1/settlements", json=future, headers=headers)
    import time  # noqa: PLC0415

    time.sleep(1.1)
    in_utc = client.post(
        "/v1/settlements",
        json={"merchant": merchant, "currency": "USD", "until": now.isoformat()},
        headers=headers,
    )
    in_paris = client.post(
        "/v1/settlements",
        json={
            "merchant": merchant,
            "currency": "USD",
            "until": now.astimezone(timezone(timedelta(hours=1))).isoformat(),
        },
        headers=headers,
    )

    assert refused.status_code == 422
    assert (in_utc.status_code, in_paris.status_code) == (201, 200)
    assert in_utc.json()["id"] == in_paris.json()["id"]
