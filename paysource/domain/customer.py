"""Customer: a merchant's customer. Belongs to exactly one merchant.

Its name, e-mail and `personal.` metadata are personal data (`PERSONAL`): sealed in the
log with the customer's own key, so erasing the customer (destroying the key) erases
them from every event at once. `Erased` records that it happened, without personal data.
"""

from __future__ import annotations

from uuid import UUID

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.errors import IllegalTransition
from paysource.domain.meta import Meta
from paysource.domain.personal import ERASED, PersonalFields, erase_metadata
from paysource.domain.profile import check_email, check_metadata, check_name


class Customer(PaysourceAggregate):
    class Created(PaysourceAggregate.Created):
        merchant_id: UUID
        name: str
        email: str | None
        metadata: dict[str, str]
        request_hash: str

    class Updated(PaysourceAggregate.Event):
        name: str
        email: str | None
        metadata: dict[str, str]

        def apply(self, aggregate: PaysourceAggregate) -> None:
            assert isinstance(aggregate, Customer)
            aggregate.name, aggregate.email = self.name, self.email
            aggregate.metadata = dict(self.metadata)

    class Erased(PaysourceAggregate.Event):
        def apply(self, aggregate: PaysourceAggregate) -> None:
            assert isinstance(aggregate, Customer)
            aggregate.erased = True
            aggregate.name = ERASED
            aggregate.email = None if aggregate.email is None else ERASED
            aggregate.metadata = erase_metadata(aggregate.metadata)

    def __init__(
        self,
        *,
        merchant_id: UUID,
        name: str,
        metadata: dict[str, str],
        request_hash: str,
        email: str | None,
    ) -> None:
        self.merchant_id = merchant_id
        self.name = name
        self.email = email
        self.metadata = metadata
        self.request_hash = request_hash
        self.erased = False

    @classmethod
    def create(
        cls,
        *,
        customer_id: UUID,
        merchant_id: UUID,
        email: str | None,
        name: str,
        metadata: dict[str, str],
        request_hash: str,
        meta: Meta,
    ) -> Customer:
        return cls._open(
            cls.Created,
            aggregate_id=customer_id,
            meta=meta,
            merchant_id=merchant_id,
            name=check_name(name),
            email=check_email(email),
            metadata=check_metadata(metadata),
            request_hash=request_hash,
        )

    def update(self, *, name: str, email: str | None, metadata: dict[str, str], meta: Meta) -> None:
        """Replace the profile (the service merges a partial request into it first)."""
        self.check_not_erased()
        self._record(
            self.Updated,
            meta,
            name=check_name(name),
            email=check_email(email),
            metadata=check_metadata(metadata),
        )

    def erase(self, meta: Meta) -> None:
        """Record the erasure; erasing twice records it once."""
        if not self.erased:
            self._record(self.Erased, meta)

    def check_not_erased(self) -> None:
        if self.erased:
            raise IllegalTransition("the customer was erased", code="customer_erased")


# The request hash is a digest of the body that created the customer: personal too.
PERSONAL: dict[type[PaysourceAggregate.Event], PersonalFields] = {
    Customer.Created: PersonalFields(("name", "email", "request_hash")),
    Customer.Updated: PersonalFields(("name", "email")),
}
