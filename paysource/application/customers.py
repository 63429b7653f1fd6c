"""Customer commands and reads (in the merchant's cell).

Personal data is sealed in the log with the customer's key (see personal_data.py);
erasing a customer destroys that key, then records `Customer.Erased`, then erases the
evidence of the disputes of its payments (sealed under each dispute's key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from uuid import UUID, uuid4

from paysource.application.disputes import DisputeService
from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome, with_conflict_retries
from paysource.application.ports import PersonalDataVault
from paysource.application.results import CustomerState
from paysource.domain.customer import Customer
from paysource.domain.idempotency import IdempotencyRecord, claim_id
from paysource.domain.meta import Meta

Attempt = Callable[[], Outcome[Customer]]


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """A partial update: None keeps a value (`clear_email` removes the e-mail); a
    metadata value of "" removes its key, as in the create request's metadata."""

    name: str | None = None
    email: str | None = None
    clear_email: bool = False
    metadata: dict[str, str] = field(default_factory=dict)

    def merged(self, customer: Customer) -> tuple[str, str | None, dict[str, str]]:
        email = None if self.clear_email else (self.email or customer.email)
        metadata = {**customer.metadata, **self.metadata}
        return (
            self.name or customer.name,
            email,
            {k: v for k, v in metadata.items() if v != ""},
        )


class CustomerService:
    def __init__(
        self,
        store: EventStore,
        vault: PersonalDataVault | None = None,
        disputes: DisputeService | None = None,
    ) -> None:
        self._store = store
        self._claims = Claims(store)
        self._vault = vault
        self._disputes = disputes

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

        return self._run(merchant_id, idempotency_key, request_hash, attempt)

    def update_customer(
        self,
        *,
        merchant_id: UUID,
        customer_id: UUID,
        changes: ProfileChanges,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[CustomerState]:
        def attempt() -> Outcome[Customer]:
            customer = self.get_customer(merchant_id=merchant_id, customer_id=customer_id)
            name, email, metadata = changes.merged(customer)
            customer.update(name=name, email=email, metadata=metadata, meta=meta)
            record = None
            if idempotency_key is not None:
                record = IdempotencyRecord.record(
                    merchant_id=merchant_id,
                    key=idempotency_key,
                    operation="update_customer",
                    request_hash=request_hash,
                    target=customer,
                    meta=meta,
                )
            self._store.save(customer, record)
            return Outcome(customer)

        return self._run(merchant_id, idempotency_key, request_hash, attempt)

    def erase_customer(
        self, *, merchant_id: UUID | None, customer_id: UUID, meta: Meta
    ) -> CustomerState:
        """Destroy the customer's key, then record the erasure (again: a no-op), then
        erase its disputes' evidence (again: whatever evidence came since).

        The key goes first: if recording then fails, the data is already unreadable
        and a retry records the event; the other order could leave it readable. The
        evidence comes last: a dispute answered meanwhile sees the customer erased."""
        self.get_customer(merchant_id=merchant_id, customer_id=customer_id)  # yours, or 404
        if self._vault is not None:
            self._vault.destroy(customer_id)

        def attempt() -> Customer:
            customer = self.get_customer(merchant_id=merchant_id, customer_id=customer_id)
            customer.erase(meta)
            self._store.save(customer)
            return customer

        erased = with_conflict_retries(attempt)
        if self._disputes is not None:
            self._disputes.erase_customer_evidence(
                merchant_id=erased.merchant_id, customer_id=customer_id, meta=meta
            )
        return CustomerState.of(erased)

    def get_customer(self, *, merchant_id: UUID | None, customer_id: UUID) -> Customer:
        """The customer, if `merchant_id` owns it (None: any merchant, for staff roles)."""
        customer = self._store.get(customer_id, Customer)
        if customer is None or merchant_id not in (None, customer.merchant_id):
            raise NotFound("no such customer")
        return customer

    def _run(
        self, merchant_id: UUID, key: str | None, request_hash: str, attempt: Attempt
    ) -> Outcome[CustomerState]:
        outcome = self._claims.run(
            merchant_id=merchant_id,
            key=key,
            request_hash=request_hash,
            kind=Customer,
            attempt=attempt,
        )
        state = CustomerState.of(outcome.value)
        if outcome.replayed and not state.erased:
            # A replay shows the customer as its command left it, personal values as
            # they may be shown now (erased since, if so): its flag says the same.
            current = self._store.get(state.id, Customer)
            state = replace(state, erased=current is not None and current.erased)
        return Outcome(state, outcome.replayed)
