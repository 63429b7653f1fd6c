"""Application services on eventsourcing's in-memory store: fast, no servers."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pytest

from paysource.adapters.acquirer_sim import SimulatedAcquirer
from paysource.adapters.clock import ManualClock
from paysource.adapters.vault import TestCardVault
from paysource.application.auth import Authenticator
from paysource.application.customers import CustomerService
from paysource.application.eventlog import EventStore
from paysource.application.merchants import MerchantService
from paysource.application.payments import PaymentService
from paysource.application.refunds import RefundService
from paysource.domain.fees import FeeSchedule
from paysource.domain.idempotency import key_digest
from paysource.domain.meta import ActorKind, Meta

ADMIN_KEY = "unit-admin-key-0123456789abcdef0123456789"


class NoRecentPayments:
    def count_between(
        self, *, merchant_id: UUID, customer_id: UUID, since: datetime, until: datetime
    ) -> int:
        return 0


@pytest.fixture
def store() -> EventStore:
    return EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def acquirer() -> SimulatedAcquirer:
    return SimulatedAcquirer()


@pytest.fixture
def authenticator(store: EventStore) -> Authenticator:
    return Authenticator(store, admin_key=ADMIN_KEY)


@pytest.fixture
def merchants(store: EventStore, authenticator: Authenticator) -> MerchantService:
    return MerchantService(store, authenticator)


@pytest.fixture
def payments(store: EventStore) -> PaymentService:
    return PaymentService(store, TestCardVault())


@pytest.fixture
def refunds(store: EventStore) -> RefundService:
    return RefundService(store)


@pytest.fixture
def customers(store: EventStore) -> CustomerService:
    return CustomerService(store)


@pytest.fixture
def merchant_id(merchants: MerchantService) -> UUID:
    outcome, _ = merchants.register_merchant(
        name="Acme",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(290, {"USD": 30}),
        idempotency_key=None,
        request_hash="h",
        meta=Meta(ActorKind.ADMIN, "test"),
    )
    return outcome.value.id


def merchant_meta(merchant_id: UUID, key: str | None = None) -> Meta:
    digest = None if key is None else key_digest(key, b"test")  # events keep no plaintext key
    return Meta(
        ActorKind.MERCHANT, str(merchant_id), request_id="req_1", idempotency_key_hmac=digest
    )
