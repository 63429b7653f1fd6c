"""Customer commands and reads (in the merchant's cell)."""

from __future__ import annotations

from uuid import UUID, uuid4

from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome
from paysource.application.results import CustomerState
from paysource.domain.customer import Customer
from paysource.domain.idempotency import claim_id
from paysource.domain.meta import Meta


class CustomerService:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._claims = Claims(store)

    def create_customer(
        self,
        *,
        merchant_id: UUID,
        name: str,
        email: str | None,
        metadata: dict[str, str],
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[CustomerState]:
        def attempt() -> Outcome[Customer]:
            customer = Customer.create(
                customer_id=claim_id(merchant_id, idempotency_key) if idempotency_key else uuid4(),
                merchant_id=merchant_id,
                name=name,
                email=email,
                metadata=metadata,
                request_hash=request_hash,
                meta=meta,
            )
            self._store.save(customer)
            return Outcome(customer)

        outcome = self._claims.run(
            merchant_id=merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            kind=Customer,
            attempt=attempt,
        )
        return Outcome(CustomerState.of(outcome.value), outcome.replayed)

    def get_customer(self, *, merchant_id: UUID | None, customer_id: UUID) -> Customer:
        """The customer, if `merchant_id` owns it (None: any merchant, for staff roles)."""
        customer = self._store.get(customer_id, Customer)
        if customer is None or merchant_id not in (None, customer.merchant_id):
            raise NotFound("no such customer")
        return customer
