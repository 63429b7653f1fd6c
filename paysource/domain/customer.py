"""Customer: a merchant's customer. Belongs to exactly one merchant."""

from __future__ import annotations

from uuid import UUID

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.meta import Meta
from paysource.domain.profile import check_email, check_metadata, check_name


class Customer(PaysourceAggregate):
    class Created(PaysourceAggregate.Created):
        merchant_id: UUID
        name: str
        email: str | None
        metadata: dict[str, str]
        request_hash: str

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
