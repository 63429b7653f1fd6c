"""Whatever the sequence of payments, refused captures, retries, reversals, refusals
learned late, an acquirer that stops answering and settlements: a merchant is paid out
exactly the captures the acquirer made and the books keep (less refunds and fees), never
a refused one, and never one the acquirer has not confirmed (yet); what it owes back
(corrections, carried debits) waits in its next settlement; and the ledger balances."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localservices import LocalPostgres
from paysource.adapters.acquirer_sim import SimulatedAcquirer
from paysource.application.errors import ApplicationError
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.ports import AcquirerError, AcquirerTimeout
from paysource.application.relay_resolution import Resolution
from paysource.domain.errors import DomainError
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment, RelayAction
from paysource.domain.settlement import ItemKind, SettlementStatus
from paysource.readmodels.view import ProjectionHandler
from tests.helpers import drain
from tests.properties.test_projection_replay import fresh_container
from tests.properties.test_settlement_invariants import SettlementRun, live

TOKENS = ("tok_visa", "tok_capture_refused", "tok_capture_refused_once")

# The last field: whether the acquirer answers captures from this payment on (until the
# next payment, or `acquirer_up`): one that does not leaves captures unconfirmed.
pay = st.tuples(
    st.just("pay"),
    st.integers(0, 1),
    st.integers(1, 50_000),
    st.sampled_from(TOKENS),
    st.booleans(),
)
refund = st.tuples(st.just("refund"), st.integers(0, 40), st.floats(0.05, 1.0))
settle = st.tuples(st.just("settle"), st.integers(0, 1), st.just(1), st.just(True))
payout = st.tuples(st.just("payout"))
resolve = st.tuples(st.just("resolve"), st.integers(0, 40), st.sampled_from(list(RelayAction)))
learn = st.tuples(st.just("learn_refusal"), st.integers(0, 40))
up = st.tuples(st.just("acquirer_up"))
commands = st.lists(
    st.one_of(pay, pay, refund, settle, payout, resolve, learn, up), min_size=1, max_size=20
)


class Unanswering(SimulatedAcquirer):
    """The simulator (on the container's ledger), whose captures time out while `down`."""

    down = False

    def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        if self.down:
            raise AcquirerTimeout("the acquirer did not answer")
        super().capture(idempotency_key=idempotency_key, reference=reference, amount=amount)


class RelayRun(SettlementRun):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Captures the acquirer is found, late, not to have made: its first capture of
        # them did not count (a retry may capture them for real).
        self.learned_late: set[UUID] = set()
        simulator = self.container.acquirer
        assert isinstance(simulator, SimulatedAcquirer)
        self.acquirer = self.container.acquirer = Unanswering(simulator.ledger)
        # Captures found in a settlement while the acquirer had not confirmed them.
        self.settled_unconfirmed: set[UUID] = set()

    def sync(self) -> None:
        """The worker: while the acquirer does not answer, its processor waits (the
        batch fails and is retried) and its projections go on."""
        try:
            drain(self.container)
        except AcquirerError:
            assert self.acquirer.down  # nothing else stops the processor
            for projection in self.cell.read.projections():
                follower = Follower(self.cell.store, ProjectionHandler(projection), wakeup=Wakeup())
                run_until_caught_up(follower)

    def do_acquirer_up(self) -> None:
        self.acquirer.down = False
        self.sync()

    def do_pay(self, m: int, amount: int, token: str, answered: bool) -> None:  # type: ignore[override]
        self.acquirer.down = not answered
        super(SettlementRun, self).do_pay(m, amount, "USD", token, CaptureMethod.AUTOMATIC)
        self.sync()

    def do_settle(self, m: int, runs: int, same_cutoff: bool) -> None:
        super().do_settle(m, runs, same_cutoff)
        self.settled_unconfirmed |= settled_while_unconfirmed(self)

    def do_resolve(self, index: int, action: RelayAction) -> None:
        _, payment_id = self.payments[index % len(self.payments)]
        service = self.container.relay_resolution(payment_id)
        resolution = Resolution(payment_id, action, "property test")
        meta = Meta(ActorKind.ADMIN, "test")
        service.resolve(resolution, idempotency_key=None, request_hash="h", meta=meta)
        self.sync()

    def do_learn_refusal(self, index: int) -> None:
        """The acquirer's refusal of a capture is learned late (perhaps once paid out)."""
        _, payment_id = self.payments[index % len(self.payments)]
        payment = self.payment(payment_id)
        if payment.amount_captured == 0 or payment.relay_failures or payment.amount_refunded:
            return
        payment.record_relay_failure(
            operation="capture", reason="learned late", meta=Meta.system("test")
        )
        self.cell.store.save(payment)
        self.learned_late.add(payment_id)
        self.sync()

    def payment(self, payment_id: UUID) -> Payment:
        payment = self.cell.store.get(payment_id, Payment)
        assert payment is not None
        return payment

    def resolve_the_rest(self) -> None:
        """Operations close every case: a retry first, a reversal if refused again."""
        self.do_payout()  # a reversal waits for payouts in flight
        for index, (_, payment_id) in enumerate(self.payments):
            for action in RelayAction:
                if self.payment(payment_id).settlement_hold is not None:
                    self.do_resolve(index, action)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=commands)
def test_only_captures_the_acquirer_made_are_paid_out_and_the_ledger_balances(
    postgres: LocalPostgres, template_url: str, redis_url: str, script: list[tuple[Any, ...]]
) -> None:
    with fresh_container(postgres, redis_url) as container:
        run = RelayRun(container)
        for command in script:
            if command[0] in ("resolve", "learn_refusal", "refund") and not run.payments:
                continue
            with contextlib.suppress(DomainError, ApplicationError):
                getattr(run, f"do_{command[0]}")(*command[1:])
        run.settle_everything()  # the acquirer may still be down: its captures wait
        held_out_while_held = no_held_capture_was_ever_settled(run)
        run.do_acquirer_up()
        run.resolve_the_rest()
        run.settle_everything()

        assert run.settled_unconfirmed == set()
        for _, payment_id in run.payments:  # the acquirer answered: all confirmed or refused
            payment = run.payment(payment_id)
            assert not payment.awaits_capture_confirmation or payment.amount_reversed
        assert held_out_while_held
        for merchant in run.merchants:
            assert_paid_out_what_the_acquirer_moved(run, merchant)
        assert_the_ledger_balances(run)


def no_held_capture_was_ever_settled(run: RelayRun) -> bool:
    """Payments refused from the start and still held were in no settlement."""
    settled = {item.ref_id for s in live(run.settlements()) for item in s.items}
    for _, payment_id in run.payments:
        payment = run.payment(payment_id)
        held = payment.settlement_hold is not None and payment_id not in run.learned_late
        if held and payment_id in settled:
            return False
    return True


def settled_while_unconfirmed(run: RelayRun) -> set[UUID]:
    """Captures in a settlement (even one whose payout then failed) whose payment still
    awaits the acquirer's confirmation: a confirmation is never undone, so one found
    now was settled before it, money the acquirer had not confirmed moving."""
    settled = {
        item.ref_id for s in run.settlements() for item in s.items if item.kind is ItemKind.CAPTURE
    }
    return {
        p for _, p in run.payments if p in settled and run.payment(p).awaits_capture_confirmation
    }


def acquirer_captured(run: RelayRun, payment_id: UUID) -> int:
    """What the acquirer captured of the payment (minor units)."""
    operations = run.container.acquirer.operations(payment_id)  # type: ignore[attr-defined]
    void = f"{payment_id}:capture" if payment_id in run.learned_late else None
    return sum(op.amount_minor for op in operations if op.kind == "capture" and op.key != void)


def assert_paid_out_what_the_acquirer_moved(run: RelayRun, merchant: UUID) -> None:
    expected = 0
    for owner, payment_id in run.payments:
        payment = run.payment(payment_id)
        if owner != merchant or payment.amount_captured == 0 or payment.amount_reversed:
            continue
        # Kept in the books: the acquirer made the capture.
        assert acquirer_captured(run, payment_id) == payment.amount_captured
        expected += payment.amount_captured - payment.fee_minor - payment.amount_refunded
    settlements = [s for s in run.settlements() if s.merchant_id == merchant]
    absorbed = {
        item.ref_id
        for s in live(settlements)
        for item in s.items
        if item.kind is ItemKind.CARRIED_FORWARD
    }
    paid = sum(s.net_minor for s in settlements if s.status is SettlementStatus.PAID)
    carried = sum(
        s.net_minor
        for s in settlements
        if s.status is SettlementStatus.CARRIED_FORWARD and s.id not in absorbed
    )
    assert paid + carried + waiting_corrections(run, merchant) == expected


def waiting_corrections(run: RelayRun, merchant: UUID) -> int:
    """Debits for reversed captures already paid out, not yet in a settlement (they wait
    for the merchant's next captures)."""
    with run.cell.read.datastore.transaction(commit=False) as curs:
        row = curs.execute(
            "SELECT coalesce(sum(amount_minor), 0) AS owed FROM settleable_items"
            " WHERE merchant_id = %s AND kind = 'correction' AND settlement_id IS NULL",
            (merchant,),
        ).fetchone()
    assert row is not None
    return int(row["owed"])


def assert_the_ledger_balances(run: RelayRun) -> None:
    with run.cell.read.datastore.transaction(commit=False) as curs:
        rows = curs.execute(
            "SELECT currency, sum(debits_posted) - sum(credits_posted) AS posted,"
            " sum(debits_pending) - sum(credits_pending) AS pending"
            " FROM ledger_accounts GROUP BY currency"
        ).fetchall()
    assert all((r["posted"], r["pending"]) == (0, 0) for r in rows), rows
