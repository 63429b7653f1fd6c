"""For any sequence of commands, every read model built incrementally (in batches of
any size, interleaved with the commands) equals a rebuild from scratch, the ledger
balances, and each merchant's balance is its captures less fees and refunds."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localservices import LocalPostgres
from paysource.application.errors import ApplicationError
from paysource.application.idempotency import fingerprint
from paysource.application.payments import NewPayment
from paysource.bootstrap import Container, build_container
from paysource.domain.errors import DomainError
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.maintenance import verify
from tests.conftest import app_settings, scratch_database
from tests.helpers import drain

_databases = itertools.count()

pay = st.tuples(
    st.just("pay"),
    st.integers(0, 1),  # merchant
    st.integers(1, 200_000),
    st.sampled_from(["USD", "EUR", "JPY"]),
    st.sampled_from(["tok_visa", "tok_mastercard", "tok_decline", "tok_risk", "tok_refund_fail"]),
    st.sampled_from(list(CaptureMethod)),
)
capture = st.tuples(st.just("capture"), st.integers(0, 30), st.none() | st.floats(0.01, 1.2))
cancel = st.tuples(st.just("cancel"), st.integers(0, 30))
refund = st.tuples(st.just("refund"), st.integers(0, 30), st.none() | st.floats(0.01, 1.2))
process = st.tuples(st.just("process"), st.integers(1, 40))
commands = st.lists(st.one_of(pay, pay, capture, cancel, refund, process), min_size=1, max_size=30)


@contextmanager
def fresh_container(postgres: LocalPostgres, redis_url: str) -> Iterator[Container]:
    with scratch_database(postgres, f"prop_{next(_databases)}") as url:
        container = build_container(app_settings(url, redis_url, db_pool_size=2, read_pool_size=2))
        try:
            yield container
        finally:
            container.close()


class Run:
    """Applies generated commands through the application services."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.cell = container.router.all()[0]
        self.merchants = [self._merchant(n) for n in range(2)]
        self.payments: list[tuple[UUID, UUID]] = []  # (merchant, payment)
        self.counter = itertools.count()

    def _merchant(self, number: int) -> UUID:
        outcome, _ = self.container.merchants.register_merchant(
            name=f"M{number}",
            email=None,
            settlement_currency="USD",
            fees=FeeSchedule(250 + 50 * number, {"USD": number * 25}),
            idempotency_key=None,
            request_hash="h",
            meta=Meta(ActorKind.ADMIN, "test"),
        )
        return outcome.value.id

    def meta(self, merchant: UUID) -> Meta:
        return Meta(ActorKind.MERCHANT, str(merchant))

    def apply(self, command: tuple[Any, ...]) -> None:
        # Illegal commands are part of the input space: their errors are expected.
        with contextlib.suppress(DomainError, ApplicationError):
            getattr(self, f"do_{command[0]}")(*command[1:])

    def do_pay(self, m: int, amount: int, currency: str, token: str, method: CaptureMethod) -> None:
        merchant = self.merchants[m]
        key = f"p{next(self.counter)}"
        payment = self.cell.payments.create_payment(
            NewPayment(
                merchant_id=merchant,
                idempotency_key=key,
                request_hash=fingerprint("POST", "/v1/payments", {"k": key}),
                amount=Money(amount, currency),
                source=token,
                capture_method=method,
                meta=self.meta(merchant),
            )
        ).value
        self.payments.append((merchant, payment.id))

    def _pick(self, index: int) -> tuple[UUID, Payment] | None:
        if not self.payments:
            return None
        merchant, payment_id = self.payments[index % len(self.payments)]
        return merchant, self.cell.payments.get_payment(merchant_id=merchant, payment_id=payment_id)

    def do_capture(self, index: int, share: float | None) -> None:
        if (picked := self._pick(index)) is None:
            return
        merchant, payment = picked
        amount = (
            None
            if share is None
            else Money(max(1, int(payment.amount_minor * share)), payment.currency)
        )
        self.cell.payments.capture_payment(
            merchant_id=merchant,
            payment_id=payment.id,
            amount=amount,
            idempotency_key=None,
            request_hash="c",
            meta=self.meta(merchant),
        )

    def do_cancel(self, index: int) -> None:
        if (picked := self._pick(index)) is None:
            return
        merchant, payment = picked
        self.cell.payments.cancel_payment(
            merchant_id=merchant,
            payment_id=payment.id,
            idempotency_key=None,
            request_hash="x",
            meta=self.meta(merchant),
        )

    def do_refund(self, index: int, share: float | None) -> None:
        if (picked := self._pick(index)) is None:
            return
        merchant, payment = picked
        amount = (
            None
            if share is None
            else Money(max(1, int(payment.amount_captured * share)), payment.currency)
        )
        key = f"r{next(self.counter)}"
        self.cell.refunds.create_refund(
            merchant_id=merchant,
            payment_id=payment.id,
            amount=amount,
            reason=None,
            idempotency_key=key,
            request_hash=key,
            meta=self.meta(merchant),
        )

    def do_process(self, batch_size: int) -> None:
        drain(self.container, batch_size=batch_size)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=commands)
def test_read_models_equal_a_replay_and_the_books_balance(
    postgres: LocalPostgres, template_url: str, redis_url: str, script: list[tuple[Any, ...]]
) -> None:
    with fresh_container(postgres, redis_url) as container:
        run = Run(container)
        for command in script:
            run.apply(command)
        drain(container, batch_size=17)

        for name in PROJECTIONS:
            assert verify(name, run.cell.store, run.cell.read.datastore, batch_size=13) == [], name
        assert_books_balance(run)


def assert_books_balance(run: Run) -> None:
    with psycopg.connect(run.cell.database_url) as conn:
        unbalanced = conn.execute(
            "SELECT currency, phase FROM postings GROUP BY currency, phase"
            " HAVING sum(CASE side WHEN 'D' THEN amount_minor ELSE -amount_minor END) <> 0"
        ).fetchall()
    assert unbalanced == []
    expected: dict[tuple[UUID, str], int] = {}
    for merchant, payment_id in run.payments:
        payment = run.cell.payments.get_payment(merchant_id=merchant, payment_id=payment_id)
        key = (merchant, payment.currency)
        net = payment.amount_captured - payment.fee_minor - payment.amount_refunded
        expected[key] = expected.get(key, 0) + net
    balances = {
        (row["merchant_id"], row["currency"]): row["available_minor"]
        for row in run.cell.read.ledger.balances()
    }
    for key, amount in expected.items():
        assert balances.get(key, 0) == amount, key
