"""Group commit against a real Postgres: saves share a transaction, and a batch never
fails an innocent neighbour (a twin, a stale writer and a bad request each get their
own answer)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest

from paysource.adapters.postgres.datastore import eventsourcing_env
from paysource.application.deadlines import DatabaseBudgetSpent, database_budget
from paysource.application.errors import MerchantMoving
from paysource.application.eventlog import ConcurrencyConflict, EventStore, GroupCommitSettings
from paysource.bootstrap import Container, build_container
from paysource.config import Settings
from paysource.domain.card import CardDetails
from paysource.domain.customer import Customer
from paysource.domain.fees import FeeSchedule
from paysource.domain.merchant import Merchant
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment
from tests.helpers import admin, drain, live_server, new_key

# Wide enough that saves released together by a barrier land in one batch.
WIDE = GroupCommitSettings(window_s=0.25, max_batch=64)


@pytest.fixture
def store(database_url: str) -> Iterator[EventStore]:
    env = eventsourcing_env(database_url, pool_size=4, max_overflow=16)
    built = EventStore(env, group_commit=WIDE)
    yield built
    built.close()


def customer(customer_id: UUID | None = None, name: str = "Ada") -> Customer:
    return Customer.create(
        customer_id=customer_id or uuid4(),
        merchant_id=uuid4(),
        email=None,
        name=name,
        metadata={},
        request_hash="h",
        meta=Meta(actor=ActorKind.MERCHANT),
    )


def payment(payment_id: UUID | None = None) -> Payment:
    return Payment.create(
        payment_id=payment_id or uuid4(),
        merchant_id=uuid4(),
        customer_id=None,
        amount=Money(1000, "USD"),
        capture_method=CaptureMethod.AUTOMATIC,
        card=CardDetails(token="tok_visa", brand="visa", bin="424242", last4="4242"),
        description=None,
        metadata={},
        request_hash="h",
        meta=Meta(actor=ActorKind.MERCHANT),
    )


def together(calls: list[Callable[[], object]]) -> list[object]:
    """Run `calls` from as many threads released at once; each one's result or error."""
    barrier = threading.Barrier(len(calls))

    def one(call: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return call()
        except Exception as error:  # noqa: BLE001  # the answer under test
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_saves_released_together_share_one_transaction(store: EventStore) -> None:
    customers = [customer() for _ in range(12)]
    sizes: list[int] = []
    store.observe_group_commits(sizes.append)

    answers = together([lambda c=c: store.save(c) for c in customers])

    assert all(isinstance(answer, list) and len(answer) == 1 for answer in answers), answers
    assert all(store.get(c.id, Customer) is not None for c in customers)
    stats = store.group_commit_stats()
    assert stats is not None
    assert stats.saves == 12
    assert stats.batches < 12, stats  # shared, not one commit each
    assert sum(sizes) == 12
    assert len(sizes) == stats.batches
    ids = [answer[0].notification.id for answer in answers if isinstance(answer, list)]
    assert len(set(ids)) == 12


def test_a_batch_gives_twins_and_stale_writers_their_own_answers(store: EventStore) -> None:
    meta = Meta(actor=ActorKind.ADMIN)
    existing = Merchant.register(
        merchant_id=uuid4(),
        name="Existing",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        request_hash="h",
        meta=meta,
    )
    store.save(existing)
    first, stale = store.get(existing.id, Merchant), store.get(existing.id, Merchant)
    assert first is not None
    assert stale is not None
    first.change_fees(FeeSchedule(basis_points=100), meta)
    store.save(first)  # committed: version 2 is taken
    stale.change_fees(FeeSchedule(basis_points=999), meta)
    twin_id = uuid4()
    twin_a, twin_b = customer(twin_id, "Twin A"), customer(twin_id, "Twin B")
    innocents = [customer(name=f"Innocent {n}") for n in range(4)]

    answers = together(
        [
            lambda: store.save(twin_a),
            lambda: store.save(stale),
            lambda: store.save(twin_b),
            *[lambda c=c: store.save(c) for c in innocents],
        ]
    )

    twin_answers = [answers[0], answers[2]]
    assert sum(isinstance(a, list) for a in twin_answers) == 1, twin_answers
    assert sum(isinstance(a, ConcurrencyConflict) for a in twin_answers) == 1, twin_answers
    assert isinstance(answers[1], ConcurrencyConflict), answers[1]
    assert all(isinstance(a, list) for a in answers[3:]), answers[3:]
    assert all(store.get(c.id, Customer) is not None for c in innocents)
    saved_twin = store.get(twin_id, Customer)
    assert saved_twin is not None
    assert saved_twin.name in {"Twin A", "Twin B"}
    current = store.get(existing.id, Merchant)
    assert current is not None
    assert (current.fees.basis_points, current.version) == (100, 2)


@pytest.fixture
def wide_container(settings: Settings) -> Iterator[Container]:
    wide = settings.model_copy(update={"group_commit_window_ms": 50.0})
    built = build_container(wide)
    yield built
    built.close()


def test_a_duplicate_key_a_bad_card_and_innocents_in_one_batch_each_get_their_answer(
    wide_container: Container,
) -> None:
    with live_server(wide_container) as base_url:
        merchant = admin(httpx.Client(base_url=base_url, timeout=30)).merchant()
        key = new_key()
        bodies: list[tuple[dict[str, object], str]] = [
            ({"amount": 1500, "currency": "USD", "source": "tok_visa"}, key),
            ({"amount": 1500, "currency": "USD", "source": "tok_visa"}, key),
            ({"amount": 1500, "currency": "USD", "source": "tok_no_such_card"}, new_key()),
            *[
                ({"amount": 700 + n, "currency": "USD", "source": "tok_visa"}, new_key())
                for n in range(4)
            ],
        ]

        def post(body: dict[str, object], idempotency_key: str) -> httpx.Response:
            with httpx.Client(base_url=base_url, timeout=30) as client:
                return client.post(
                    "/v1/payments",
                    json=body,
                    headers={
                        "Authorization": f"Bearer {merchant.key}",
                        "Idempotency-Key": idempotency_key,
                    },
                )

        answers = together([lambda b=b, k=k: post(b, k) for b, k in bodies])

    responses = [a for a in answers if isinstance(a, httpx.Response)]
    assert len(responses) == len(bodies), answers
    same_key = responses[:2]
    assert {r.status_code for r in same_key} <= {202, 409}, [r.text for r in same_key]
    accepted = [r for r in same_key if r.status_code == 202]
    assert len({r.json()["id"] for r in accepted}) == 1
    bad = responses[2]
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/problem+json")
    innocent = responses[3:]
    assert [r.status_code for r in innocent] == [202] * 4, [r.text for r in innocent]
    assert len({r.json()["id"] for r in innocent}) == 4
    drain(wide_container)


def test_a_batch_with_a_sealed_merchants_save_commits_the_innocent_ones(
    store: EventStore, database_url: str
) -> None:
    """A save routed before its merchant's move, refused by the seal (migration 027),
    fails alone: the other merchants' saves of its batch commit."""
    sealed = customer(name="Late")
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO moved_out_ids (id, merchant_id) VALUES (%s, %s)",
            (sealed.merchant_id, sealed.merchant_id),
        )
    innocents = [customer(name=f"Innocent {n}") for n in range(4)]
    sizes: list[int] = []
    store.observe_group_commits(sizes.append)

    answers = together(
        [lambda: store.save(sealed), *[lambda c=c: store.save(c) for c in innocents]]
    )

    assert isinstance(answers[0], MerchantMoving), answers[0]
    assert all(isinstance(a, list) for a in answers[1:]), answers[1:]
    assert all(store.get(c.id, Customer) is not None for c in innocents)
    assert store.get(sealed.id, Customer) is None
    assert max(sizes) > 1, sizes  # they did share a batch


def test_saves_awaited_on_an_event_loop_share_a_batch_and_get_their_own_answers(
    store: EventStore,
) -> None:
    payments = [payment() for _ in range(6)]
    twin = payments[0].id

    async def save_all() -> list[object]:
        saves = [store.save_async(p) for p in [*payments, payment(twin)]]
        return await asyncio.gather(*saves, return_exceptions=True)

    answers = asyncio.run(save_all())

    assert [type(a) for a in answers] == [list] * 6 + [ConcurrencyConflict], answers
    assert all(store.get(p.id, Payment) is not None for p in payments)
    stats = store.group_commit_stats()
    assert stats is not None
    assert (stats.saves, stats.batches) == (7, 1)  # one transaction, not one each
    ids = {a[0].notification.id for a in answers if isinstance(a, list)}
    assert len(ids) == 6


def test_a_save_awaited_past_its_budget_is_spent_but_stays_in_its_batch(
    store: EventStore,
) -> None:
    late = payment()

    async def save_late() -> BaseException | None:
        try:
            with database_budget(0.02):  # the batch waits WIDE's 0.25 s for others
                await store.save_async(late)
        except DatabaseBudgetSpent as error:
            spent: BaseException | None = error
        else:
            spent = None
        await asyncio.sleep(1)  # the loop lives on while the batch commits
        return spent

    assert isinstance(asyncio.run(save_late()), DatabaseBudgetSpent)
    # Like a thread's save out of time: the log decides, and here it committed.
    assert store.get(late.id, Payment) is not None
