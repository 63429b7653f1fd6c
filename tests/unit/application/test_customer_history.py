"""Once a customer is erased, no view of its past shows its personal data: not its events
(`/events`), not an earlier version (`?as_of=`), not the replayed answer of a retried
create or update. Destroying the key alone does not ensure it: a customer created
before sealing existed is plain in its events, and another process may still hold the
key for a minute (docs/audit.md, "Erasing personal data"). Whichever way the reading
process meets the events, it answers the same."""

from __future__ import annotations

import string
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.adapters.pii_crypto import MemoryPersonalDataVault
from paysource.application.as_of import load_as_of
from paysource.application.customers import CustomerService, ProfileChanges
from paysource.application.erased_history import ERASURES, shown
from paysource.application.errors import IdempotencyKeyReused
from paysource.application.eventlog import PERSONAL, EventStore
from paysource.application.idempotency import Outcome
from paysource.application.results import CustomerState
from paysource.domain.customer import Customer
from paysource.domain.personal import ERASED, erase_metadata
from tests.unit.domain.domain_builders import MERCHANT_ID, T0, merchant_meta

TEXT = st.text(string.ascii_letters, min_size=16, max_size=40)
EMAILS = st.none() | TEXT.map(lambda local: f"{local}@example.test")
METADATA = st.dictionaries(
    st.sampled_from(["personal.phone", "personal.address", "plan", "order_ref"]), TEXT
)
# The key destroyed (what erasing does); still open to this process (another one
# erased, this one caches the key); never there (stored before sealing existed).
WAYS = st.sampled_from(["destroyed", "cached", "plain"])
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def create(
    service: CustomerService, name: str, email: str | None, metadata: dict[str, str]
) -> UUID:
    return service.create_customer(
        merchant_id=MERCHANT_ID,
        name=name,
        email=email,
        metadata=metadata,
        idempotency_key="create-1",
        request_hash="c",
        meta=merchant_meta(T0),
    ).value.id


def update(
    service: CustomerService, customer_id: UUID, name: str, metadata: dict[str, str]
) -> Outcome[CustomerState]:
    return service.update_customer(
        merchant_id=MERCHANT_ID,
        customer_id=customer_id,
        changes=ProfileChanges(name=name, metadata=metadata),
        idempotency_key="update-1",
        request_hash="u",
        meta=merchant_meta(T0 + MINUTE),
    )


def erased_customer(
    way: str, name: str, email: str | None, metadata: dict[str, str]
) -> tuple[EventStore, UUID]:
    """A customer created, updated, then erased; the store reads its events `way`."""
    vault = None if way == "plain" else MemoryPersonalDataVault()
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"}, vault=vault)
    customer_id = create(CustomerService(store), name, email, metadata)
    update(CustomerService(store), customer_id, name[::-1], metadata)
    eraser = CustomerService(store, vault if way == "destroyed" else None)
    eraser.erase_customer(
        merchant_id=MERCHANT_ID, customer_id=customer_id, meta=merchant_meta(T0 + HOUR)
    )
    return store, customer_id


@settings(max_examples=30, deadline=None)
@given(way=WAYS, name=TEXT, email=EMAILS, metadata=METADATA)
def test_no_view_of_an_erased_customers_past_shows_its_personal_data(
    way: str, name: str, email: str | None, metadata: dict[str, str]
) -> None:
    store, customer_id = erased_customer(way, name, email, metadata)
    service = CustomerService(store)
    erased = (ERASED, None if email is None else ERASED, erase_metadata(metadata))

    history = shown(store.history(customer_id))
    first = load_as_of(store, customer_id, Customer, T0 + MINUTE / 2)
    retried = update(service, customer_id, name[::-1], metadata)

    profiles = [
        (e.name, e.email, e.metadata)
        for e in history
        if isinstance(e, Customer.Created | Customer.Updated)
    ]
    assert profiles == [erased, erased]
    assert [e.request_hash for e in history if isinstance(e, Customer.Created)] == [ERASED]
    assert (first.version, first.name, first.email, first.metadata) == (1, *erased)
    assert retried.replayed
    assert (retried.value.version, retried.value.name, retried.value.email) == (2, *erased[:2])
    assert retried.value.metadata == erased[2]
    with pytest.raises(IdempotencyKeyReused):  # its request's digest was personal too
        create(service, name, email, metadata)


def test_every_event_with_personal_fields_is_of_an_aggregate_that_has_an_erasure() -> None:
    """A guard for the next kind: its past would show its personal data after erasure
    unless `ERASURES` names it (and the event that erases it)."""
    unerasable = [
        event.__qualname__
        for event in PERSONAL
        if not any(issubclass(event, aggregate.Event) for aggregate in ERASURES)
    ]

    assert unerasable == []
