"""For any captures, refunds and settlement runs — concurrent runs, crashes between
closing and payout, refused payouts — every item is settled exactly once, each paid
settlement is paid exactly once, and Σ net paid out + carried forward equals
Σ captures - Σ refunds - Σ fees."""

from __future__ import annotations

import contextlib
import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localservices import LocalPostgres
from paysource.adapters.bank_sim import BankBehaviour, SimulatedBank
from paysource.application.errors import ApplicationError
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.settlements import NothingToSettle
from paysource.domain.errors import DomainError
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.payment import CaptureMethod, Payment, PaymentStatus
from paysource.domain.settlement import ItemKind, Settlement, SettlementStatus
from paysource.processes.payouts import PayoutProcessor, PayoutRetry
from tests.helpers import drain
from tests.properties.test_projection_replay import Run, fresh_container

pay = st.tuples(st.just("pay"), st.integers(0, 1), st.integers(1, 50_000))
refund = st.tuples(st.just("refund"), st.integers(0, 40), st.floats(0.05, 1.0))
settle = st.tuples(st.just("settle"), st.integers(0, 1), st.integers(1, 3), st.booleans())
payout = st.tuples(st.just("payout"))
refuse = st.tuples(st.just("refuse"), st.integers(0, 1))
commands = st.lists(st.one_of(pay, pay, refund, settle, payout, refuse), min_size=1, max_size=25)


class SettlementRun(Run):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        assert isinstance(self.container.bank, SimulatedBank)
        self.bank = self.container.bank
        self.cutoffs = itertools.count(1)

    def sync(self) -> None:
        """Run the worker's processor and projections until the log stops growing."""
        drain(self.container)

    def do_pay(self, m: int, amount: int) -> None:  # type: ignore[override]
        super().do_pay(m, amount, "USD", "tok_visa", CaptureMethod.AUTOMATIC)
        self.sync()

    def do_refund(self, index: int, share: float) -> None:  # type: ignore[override]
        super().do_refund(index, share)
        self.sync()

    def do_settle(self, m: int, runs: int, same_cutoff: bool) -> None:
        """`runs` concurrent closes, racing for one cut-off or for several."""
        base = datetime.now(UTC) + timedelta(seconds=1)
        cutoffs = [
            base if same_cutoff else base + timedelta(microseconds=next(self.cutoffs))
            for _ in range(runs)
        ]
        barrier = threading.Barrier(runs)

        def close(cutoff: datetime) -> None:
            barrier.wait()
            with contextlib.suppress(NothingToSettle):
                self.cell.settlements.close(
                    merchant_id=self.merchants[m],
                    currency="USD",
                    until=cutoff,
                    meta=Meta(ActorKind.ADMIN, "test"),
                )

        threads = [threading.Thread(target=close, args=(c,)) for c in cutoffs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.sync()  # a crash before payout: nothing pays until `payout`

    def do_payout(self) -> None:
        processor = PayoutProcessor(
            self.cell.store, self.bank, self.container.clock, retry=PayoutRetry(1, 0.0)
        )
        run_until_caught_up(Follower(self.cell.store, processor, wakeup=Wakeup()))
        self.bank.behaviour = BankBehaviour()
        self.sync()

    def do_refuse(self, m: int) -> None:
        """The next payout run is refused for this merchant."""
        self.bank.behaviour = BankBehaviour(refuse_merchants=frozenset({self.merchants[m]}))

    def settle_everything(self) -> None:
        self.bank.behaviour = BankBehaviour()
        for _ in range(5):
            self.do_payout()
            for m in range(2):
                self.do_settle(m, 1, True)
            self.do_payout()

    def settlements(self) -> list[Settlement]:
        found = []
        for merchant in self.merchants:
            rows, _ = self.cell.read.settlements.page(merchant_id=merchant, limit=100)
            found += [self.cell.settlements.get(merchant_id=None, settlement=r["id"]) for r in rows]
        return found


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=commands)
def test_every_item_is_settled_once_and_the_money_adds_up(
    postgres: LocalPostgres, template_url: str, redis_url: str, script: list[tuple[Any, ...]]
) -> None:
    with fresh_container(postgres, redis_url) as container:
        run = SettlementRun(container)
        for command in script:
            with contextlib.suppress(DomainError, ApplicationError):
                getattr(run, f"do_{command[0]}")(*command[1:])
        run.settle_everything()

        settlements = run.settlements()
        assert_items_settled_exactly_once(run, settlements)
        assert_each_paid_settlement_paid_once(run, settlements)
        assert_money_adds_up(run, settlements)


def live(settlements: list[Settlement]) -> list[Settlement]:
    return [s for s in settlements if s.status is not SettlementStatus.FAILED]


def assert_items_settled_exactly_once(run: SettlementRun, settlements: list[Settlement]) -> None:
    held = [(item.kind, item.ref_id) for s in live(settlements) for item in s.items]
    assert len(held) == len(set(held))
    expected: set[tuple[ItemKind, UUID]] = set()
    for _merchant, payment_id in run.payments:
        payment = run.cell.store.get(payment_id, Payment)
        assert payment is not None
        if payment.status is PaymentStatus.SUCCEEDED:
            expected.add((ItemKind.CAPTURE, payment_id))
    settled = {(kind, ref) for kind, ref in held if kind is ItemKind.CAPTURE}
    assert settled == expected


def assert_each_paid_settlement_paid_once(
    run: SettlementRun, settlements: list[Settlement]
) -> None:
    paid = [p for p in run.bank.payouts() if p["status"] == "paid"]
    by_key = {p["key"]: p for p in paid}
    assert len(by_key) == len(paid)
    for settlement in settlements:
        record = by_key.get(f"{settlement.id}:payout")
        if settlement.status is SettlementStatus.PAID:
            assert record is not None
            assert record["amount_minor"] == settlement.net_minor
        else:
            assert record is None


def assert_money_adds_up(run: SettlementRun, settlements: list[Settlement]) -> None:
    absorbed = {
        item.ref_id
        for s in live(settlements)
        for item in s.items
        if item.kind is ItemKind.CARRIED_FORWARD
    }
    for merchant in run.merchants:
        mine = [s for s in settlements if s.merchant_id == merchant]
        paid = sum(s.net_minor for s in mine if s.status is SettlementStatus.PAID)
        carried = sum(
            s.net_minor
            for s in mine
            if s.status is SettlementStatus.CARRIED_FORWARD and s.id not in absorbed
        )
        owed = 0
        for owner, payment_id in run.payments:
            if owner != merchant:
                continue
            payment = run.cell.store.get(payment_id, Payment)
            assert payment is not None
            owed += payment.amount_captured - payment.fee_minor - payment.amount_refunded
        assert paid + carried == owed
