"""A move's seal of its source cell (adapters/postgres/moves.py): the merchant's rows
are recorded before the events table's lock, which the seal holds only to check what
was written since its last look, and gives up after its lock_timeout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import cast
from uuid import UUID, uuid4

import psycopg
import pytest

from paysource.adapters.postgres import moves
from paysource.adapters.postgres.datastore import eventsourcing_env
from paysource.application.errors import MerchantMoving
from paysource.application.eventlog import EventStore
from paysource.bootstrap import Cell
from paysource.domain.customer import Customer
from paysource.domain.meta import ActorKind, Meta
from paysource.entrypoints import cell_move

META = Meta(actor=ActorKind.MERCHANT)


@pytest.fixture
def store(database_url: str) -> Iterator[EventStore]:
    built = EventStore(eventsourcing_env(database_url, pool_size=2, max_overflow=4))
    yield built
    built.close()


def created(store: EventStore, merchant_id: UUID, name: str = "Ada") -> Customer:
    customer = Customer.create(
        customer_id=uuid4(),
        merchant_id=merchant_id,
        email=None,
        name=name,
        metadata={},
        request_hash="h",
        meta=META,
    )
    store.save(customer)
    return customer


def renamed(store: EventStore, customer: Customer, name: str) -> None:
    customer.update(name=name, email=None, metadata={}, meta=META)
    store.save(customer)


class Look:
    """The move's look at the merchant (`cell_move._at_rest`), as the seal gets it."""

    def __init__(self, url: str, store: EventStore, merchant_id: UUID) -> None:
        self.url, self.store, self.merchant_id = url, store, merchant_id
        self.found: set[UUID] = set()
        self.scanned = self.last = 0
        self.again()

    def again(self) -> None:
        self.scanned = moves.merchant_aggregates(
            self.url, self.store.decode, self.merchant_id, self.found, after=self.scanned
        )
        events = moves.last_positions(self.url, self.found)
        self.last = events[-1][0] if events else 0

    def seal(self, lock_timeout_s: float = 2.0) -> moves.Sealing:
        moves.refuse_writes(self.url, self.merchant_id, self.found)
        return moves.seal(
            self.url,
            self.store.decode,
            self.merchant_id,
            self.found,
            scanned=self.scanned,
            last=self.last,
            lock_timeout_s=lock_timeout_s,
        )


def test_the_seal_sees_the_merchants_writes_since_its_look_and_no_one_elses(
    database_url: str, store: EventStore
) -> None:
    merchant, other = uuid4(), uuid4()
    ada = created(store, merchant)
    look = Look(database_url, store, merchant)

    renamed(store, ada, "Ada L.")  # an aggregate it had
    assert look.seal() is moves.Sealing.WROTE
    moves.unseal(database_url, merchant)
    look.again()
    created(store, merchant, "Bo")  # a new one
    assert look.seal() is moves.Sealing.WROTE
    moves.unseal(database_url, merchant)
    look.again()
    renamed(store, created(store, other), "Cy")  # another merchant's
    assert look.seal() is moves.Sealing.SEALED
    with pytest.raises(MerchantMoving):
        renamed(store, ada, "Ada K.")
    with pytest.raises(MerchantMoving):
        created(store, merchant, "Di")


def test_the_merchant_is_refused_before_the_lock_which_the_seal_gives_up_in_time(
    database_url: str, store: EventStore
) -> None:
    """Its rows are in before the lock, so the locked section does not grow with the
    merchant; a seal that cannot have the lock says so, not queue ahead of every
    writer of the cell for good."""
    merchant, other = uuid4(), uuid4()
    ada = created(store, merchant)
    look = Look(database_url, store, merchant)
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE paysource_events IN EXCLUSIVE MODE")  # a long write
        release = threading.Timer(3.0, holder.rollback)  # (a seal that waits for good)
        release.start()
        try:
            assert look.seal(lock_timeout_s=0.2) is moves.Sealing.BUSY
        finally:
            release.cancel()
            holder.rollback()
    with pytest.raises(MerchantMoving):  # refused already: the move retries the lock
        renamed(store, ada, "Ada L.")
    created(store, other)  # others write on
    assert look.seal() is moves.Sealing.SEALED


def test_a_copy_whose_commit_answer_is_lost_is_reported_as_maybe_committed(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy's COMMIT reached the server, its answer did not: the copy must say so
    (`CommitUnknown`), not a plain connection error, so that the move looks before it
    undoes anything; and what it wrote is there to be found."""
    commit = psycopg.Connection.commit

    def committed_then_lost(self: psycopg.Connection[object]) -> None:
        commit(self)
        raise psycopg.OperationalError("the connection dropped before the commit's answer")

    conn = psycopg.connect(database_url)
    try:
        conn.execute("CREATE TABLE copied (id int)")
        conn.execute("INSERT INTO copied VALUES (1)")
        monkeypatch.setattr(psycopg.Connection, "commit", committed_then_lost)
        with pytest.raises(moves.CommitUnknown, match="lost"):
            moves._commit(conn, database_url)  # the copy's last step
    finally:
        monkeypatch.undo()
        conn.close()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT id FROM copied").fetchall() == [(1,)]


def test_a_move_whose_target_cannot_be_asked_stands_only_if_its_commit_was_sent() -> None:
    """After a failure the move asks the target whether the copy is there; if the target
    cannot answer, only a commit already sent may have made one."""
    # Only its database is asked; port 1 refuses at once.
    unreachable = cast(Cell, SimpleNamespace(database_url="postgresql://nobody@127.0.0.1:1/none"))
    merchant = uuid4()
    lost = moves.CommitUnknown("the answer was lost")
    assert cell_move._copy_may_stand(unreachable, merchant, lost)
    assert not cell_move._copy_may_stand(unreachable, merchant, OSError("refused"))
