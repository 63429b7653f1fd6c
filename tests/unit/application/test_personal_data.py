"""Customers' personal data is stored sealed with the customer's key; erasing the
customer destroys the key, and every event still decodes, with the fields erased."""

from __future__ import annotations

import dataclasses
from uuid import UUID, uuid4

import pytest

from paysource.adapters.pii_crypto import MemoryPersonalDataVault
from paysource.application import representations as rep
from paysource.application.customers import CustomerService, ProfileChanges
from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.personal_data import SealingMapper
from paysource.application.webhooks.catalog import standard_catalog
from paysource.domain.customer import PERSONAL, Customer
from paysource.domain.errors import IllegalTransition
from paysource.domain.personal import ERASED
from tests.unit.application.conftest import merchant_meta
from tests.unit.domain.domain_builders import new_payment

NAME, EMAIL, PHONE = "Ada Lovelace", "ada@example.test", "+44 20 7946 0000"
METADATA = {"personal.phone": PHONE, "plan": "gold"}


@pytest.fixture
def vault() -> MemoryPersonalDataVault:
    return MemoryPersonalDataVault()


@pytest.fixture
def sealed_store(vault: MemoryPersonalDataVault) -> EventStore:
    return EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"}, vault=vault)


@pytest.fixture
def service(sealed_store: EventStore, vault: MemoryPersonalDataVault) -> CustomerService:
    return CustomerService(sealed_store, vault)


def create(service: CustomerService, merchant_id: UUID, key: str | None = None) -> UUID:
    outcome = service.create_customer(
        merchant_id=merchant_id,
        name=NAME,
        email=EMAIL,
        metadata=dict(METADATA),
        idempotency_key=key,
        request_hash="digest-of-the-request",
        meta=merchant_meta(merchant_id),
    )
    return outcome.value.id


def stored_bytes(store: EventStore, aggregate_id: UUID) -> bytes:
    return b"".join(e.state for e in store.recorder.select_events(aggregate_id))


def test_personal_values_are_stored_only_sealed(
    service: CustomerService, sealed_store: EventStore
) -> None:
    customer_id = create(service, uuid4())

    stored = stored_bytes(sealed_store, customer_id)

    for secret in (NAME, EMAIL, PHONE, "digest-of-the-request"):
        assert secret.encode() not in stored
    assert b"gold" in stored  # metadata not marked personal stays readable
    assert b"personal.phone" in stored  # keys are not personal, only their values


def test_a_sealed_customer_reads_back_as_written(service: CustomerService) -> None:
    merchant_id = uuid4()
    customer = service.get_customer(
        merchant_id=merchant_id, customer_id=create(service, merchant_id)
    )

    assert (customer.name, customer.email, customer.metadata) == (NAME, EMAIL, METADATA)
    assert customer.request_hash == "digest-of-the-request"


def test_an_update_is_an_event_sealed_like_the_creation(
    service: CustomerService, sealed_store: EventStore
) -> None:
    merchant_id = uuid4()
    customer_id = create(service, merchant_id)

    updated = service.update_customer(
        merchant_id=merchant_id,
        customer_id=customer_id,
        changes=ProfileChanges(name="Ada King", metadata={"personal.phone": "", "tier": "b"}),
        idempotency_key="update-1",
        request_hash="u1",
        meta=merchant_meta(merchant_id),
    ).value

    assert (updated.name, updated.email, updated.version) == ("Ada King", EMAIL, 2)
    assert updated.metadata == {"plan": "gold", "tier": "b"}
    assert b"Ada King" not in stored_bytes(sealed_store, customer_id)


def test_an_update_with_the_same_key_is_answered_once(service: CustomerService) -> None:
    merchant_id = uuid4()
    customer_id = create(service, merchant_id)

    def update() -> tuple[int, bool]:
        outcome = service.update_customer(
            merchant_id=merchant_id,
            customer_id=customer_id,
            changes=ProfileChanges(email=None, clear_email=True),
            idempotency_key="same-key",
            request_hash="u",
            meta=merchant_meta(merchant_id),
        )
        return outcome.value.version, outcome.replayed

    assert update() == (2, False)
    assert update() == (2, True)


def test_after_erasure_every_event_decodes_with_its_personal_fields_erased(
    service: CustomerService, sealed_store: EventStore
) -> None:
    merchant_id = uuid4()
    customer_id = create(service, merchant_id)

    erased = service.erase_customer(
        merchant_id=merchant_id, customer_id=customer_id, meta=merchant_meta(merchant_id)
    )

    created = sealed_store.history(customer_id)[0]
    assert isinstance(created, Customer.Created)
    assert (created.name, created.email, created.request_hash) == (ERASED, ERASED, ERASED)
    assert created.metadata == {"personal.phone": ERASED, "plan": "gold"}
    assert created.merchant_id == merchant_id  # everything else still decodes
    assert (erased.name, erased.email, erased.erased, erased.version) == (ERASED, ERASED, True, 2)


def test_erasing_twice_records_it_once(service: CustomerService) -> None:
    merchant_id = uuid4()
    customer_id = create(service, merchant_id)
    meta = merchant_meta(merchant_id)

    first = service.erase_customer(merchant_id=merchant_id, customer_id=customer_id, meta=meta)
    again = service.erase_customer(merchant_id=merchant_id, customer_id=customer_id, meta=meta)

    assert first.version == again.version == 2


def test_an_erased_customer_cannot_be_updated(service: CustomerService) -> None:
    merchant_id = uuid4()
    customer_id = create(service, merchant_id)
    service.erase_customer(
        merchant_id=merchant_id, customer_id=customer_id, meta=merchant_meta(merchant_id)
    )

    with pytest.raises(IllegalTransition, match="erased"):
        service.update_customer(
            merchant_id=merchant_id,
            customer_id=customer_id,
            changes=ProfileChanges(name="Back again"),
            idempotency_key=None,
            request_hash="u",
            meta=merchant_meta(merchant_id),
        )


def test_another_merchant_can_neither_erase_nor_update_the_customer(
    service: CustomerService,
) -> None:
    owner, other = uuid4(), uuid4()
    customer_id = create(service, owner)

    with pytest.raises(NotFound):
        service.erase_customer(
            merchant_id=other, customer_id=customer_id, meta=merchant_meta(other)
        )
    with pytest.raises(NotFound):
        service.update_customer(
            merchant_id=other,
            customer_id=customer_id,
            changes=ProfileChanges(name="Mallory"),
            idempotency_key=None,
            request_hash="u",
            meta=merchant_meta(other),
        )
    assert service.get_customer(merchant_id=owner, customer_id=customer_id).name == NAME


def test_events_stored_before_sealing_still_decode_as_they_were(
    vault: MemoryPersonalDataVault,
) -> None:
    plain_store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    customer_id = create(CustomerService(plain_store), uuid4())
    mapper = SealingMapper(plain_store._app.mapper, vault, PERSONAL)

    (stored,) = plain_store.recorder.select_events(customer_id)
    event = mapper.to_domain_event(stored)

    assert isinstance(event, Customer.Created)
    assert (event.name, event.email) == (NAME, EMAIL)


def test_a_sealed_blob_moved_into_another_event_of_the_customer_does_not_open(
    service: CustomerService, sealed_store: EventStore
) -> None:
    merchant_id = uuid4()
    customer_id = create(service, merchant_id)
    service.update_customer(
        merchant_id=merchant_id,
        customer_id=customer_id,
        changes=ProfileChanges(name="Ada King"),
        idempotency_key=None,
        request_hash="u",
        meta=merchant_meta(merchant_id),
    )
    created, updated = sealed_store.recorder.select_events(customer_id)
    # Same customer, same key: only the blob's bound context (event, version) differs.
    moved = dataclasses.replace(updated, state=created.state)

    with pytest.raises(ValueError, match="authenticate"):
        sealed_store.decode(moved)


def test_no_webhook_body_carries_a_customers_personal_data() -> None:
    """Customers are not webhook objects, and the objects that are name a customer by id
    only, so erasure has no webhook body to redact (docs/audit.md). A customer kind
    added to the catalog must first redact stored bodies on `Customer.Erased`."""
    catalog = standard_catalog()

    assert Customer not in {kind.aggregate for kind in catalog.kinds}
    shown = rep.payment(new_payment(customer_id=uuid4()))
    assert not {"name", "email"} & set(shown)
    assert shown["customer"].startswith("cus_")
