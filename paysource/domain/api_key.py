"""ApiKey: a credential for one role, and for the merchant role one merchant.

Only a SHA-256 digest of the key is recorded. Keys are 256-bit random secrets, so a
fast hash is enough (no password stretching needed) and lookups stay cheap.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.errors import IllegalTransition, InvalidValue
from paysource.domain.meta import Meta


class Role(StrEnum):
    MERCHANT = "merchant"
    FINANCE = "finance"
    AUDITOR = "auditor"
    ADMIN = "admin"


class ApiKey(PaysourceAggregate):
    class Issued(PaysourceAggregate.Created):
        role: str
        merchant_id: UUID | None
        key_digest: str
        label: str
        # The fingerprint of the keyed request that minted it (docs/api.md, "Idempotency"):
        # the key's id is then that key's claim. None: minted without one, or before.
        request_hash: str | None = None

    class Revoked(PaysourceAggregate.Event):
        def apply(self, aggregate: ApiKey) -> None:
            aggregate.revoked = True

    def __init__(
        self,
        *,
        role: str,
        merchant_id: UUID | None,
        key_digest: str,
        label: str,
        request_hash: str | None = None,
    ) -> None:
        self.role = Role(role)
        self.merchant_id = merchant_id
        self.key_digest = key_digest
        self.label = label
        self.request_hash = request_hash
        self.revoked = False

    @classmethod
    def issue(
        cls,
        *,
        key_id: UUID,
        role: Role,
        merchant_id: UUID | None,
        key_digest: str,
        label: str,
        meta: Meta,
        request_hash: str | None = None,
    ) -> ApiKey:
        if (role is Role.MERCHANT) != (merchant_id is not None):
            raise InvalidValue("a merchant key needs a merchant; other roles have none")
        return cls._open(
            cls.Issued,
            aggregate_id=key_id,
            meta=meta,
            role=str(role),
            merchant_id=merchant_id,
            key_digest=key_digest,
            label=label,
            request_hash=request_hash,
        )

    def revoke(self, meta: Meta) -> None:
        if self.revoked:
            raise IllegalTransition("the key is already revoked", code="api_key_revoked")
        self._record(self.Revoked, meta)
