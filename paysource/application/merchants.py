"""Onboarding: merchants and their API keys (the directory of merchants)."""

from __future__ import annotations

from uuid import UUID, uuid4

from paysource.application.auth import Authenticator
from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome
from paysource.application.ports import Placement
from paysource.domain.api_key import ApiKey, Role
from paysource.domain.errors import InvalidValue
from paysource.domain.fees import FeeSchedule
from paysource.domain.idempotency import claim_id
from paysource.domain.merchant import Merchant
from paysource.domain.meta import Meta

# Admin commands are not made for a merchant; their keys are claimed in this scope.
PLATFORM_SCOPE = UUID(int=0)


def fee_schedule(
    *,
    basis_points: int,
    settlement_currency: str,
    fixed_minor: int | None = None,
    fixed: dict[str, int] | None = None,
) -> FeeSchedule:
    """A schedule from what an admin typed: `fixed` per currency, and `fixed_minor` (the
    older, single field) as the fixed fee of the settlement currency unless `fixed`
    states that currency too."""
    overrides = dict(fixed or {})
    if fixed_minor is not None:
        overrides.setdefault(settlement_currency.upper(), fixed_minor)
    return FeeSchedule(basis_points, overrides)


class MerchantService:
    def __init__(
        self, store: EventStore, authenticator: Authenticator, placement: Placement | None = None
    ) -> None:
        self._store = store
        self._claims = Claims(store)
        self._auth = authenticator
        self._placement = placement  # None: one cell, nothing to place

    def register_merchant(
        self,
        *,
        name: str,
        email: str | None,
        settlement_currency: str,
        fees: FeeSchedule,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
        cell: str | None = None,
    ) -> tuple[Outcome[Merchant], str | None]:
        """Register a merchant and mint its first API key (returned once, in plaintext).

        A replay returns the merchant without the key: we never stored it.
        """
        minted: list[str] = []

        def attempt() -> Outcome[Merchant]:
            merchant_id = claim_id(PLATFORM_SCOPE, idempotency_key) if idempotency_key else uuid4()
            merchant = Merchant.register(
                merchant_id=merchant_id,
                name=name,
                email=email,
                settlement_currency=settlement_currency,
                fees=fees,
                request_hash=request_hash,
                meta=meta,
            )
            api_key, plaintext = self._auth.issue(
                role=Role.MERCHANT, merchant_id=merchant.id, label="default", meta=meta
            )
            if self._placement is not None:
                # Before the merchant exists: no request of it can reach a cell unplaced.
                self._placement.place(merchant.id, cell)
            elif cell not in (None, "cell-0"):
                raise InvalidValue(f"no cell named {cell!r}: this is one cell", field="cell")
            self._store.save(merchant, api_key)
            minted.append(plaintext)
            return Outcome(merchant)

        outcome = self._claims.run(
            merchant_id=PLATFORM_SCOPE,
            key=idempotency_key,
            request_hash=request_hash,
            kind=Merchant,
            attempt=attempt,
        )
        return outcome, (minted[-1] if minted else None)

    def issue_api_key(
        self,
        *,
        role: Role,
        merchant_id: UUID | None,
        label: str,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> tuple[Outcome[ApiKey], str | None]:
        """Mint an API key; return it and the key itself (in plaintext, this once).

        Keyed like a merchant's registration: the key's id is the claim, so a retry
        never mints a second live key. A replay returns the key without the plaintext:
        we never stored it (only its digest), and a client whose first answer was lost
        revokes that key by its id and mints another.
        """
        minted: list[str] = []

        def attempt() -> Outcome[ApiKey]:
            if merchant_id is not None:
                self.get_merchant(merchant_id)
            key_id = claim_id(PLATFORM_SCOPE, idempotency_key) if idempotency_key else None
            api_key, plaintext = self._auth.issue(
                role=role,
                merchant_id=merchant_id,
                label=label,
                meta=meta,
                key_id=key_id,
                request_hash=request_hash,
            )
            self._store.save(api_key)
            minted.append(plaintext)
            return Outcome(api_key)

        outcome = self._claims.run(
            merchant_id=PLATFORM_SCOPE,
            key=idempotency_key,
            request_hash=request_hash,
            kind=ApiKey,
            attempt=attempt,
        )
        return outcome, (minted[-1] if minted else None)

    def revoke_api_key(self, *, key_id: UUID, meta: Meta) -> ApiKey:
        """Revoke a key. Other API processes stop accepting it within the principal
        cache's lifetime (30 s); this one at once."""
        api_key = self._store.get(key_id, ApiKey)
        if api_key is None:
            raise NotFound("no such API key")
        api_key.revoke(meta)
        self._store.save(api_key)
        self._auth.forget_all()
        return api_key

    def change_fees(self, *, merchant_id: UUID, fees: FeeSchedule, meta: Meta) -> Merchant:
        """Replace the merchant's fee schedule. Captures keep the fee they recorded."""
        merchant = self.get_merchant(merchant_id)
        merchant.change_fees(fees, meta)
        self._store.save(merchant)
        return merchant

    def get_merchant(self, merchant_id: UUID) -> Merchant:
        merchant = self._store.get(merchant_id, Merchant)
        if merchant is None:
            raise NotFound("no such merchant")
        return merchant


class MerchantFees:
    """Fee schedules read from the directory of merchants (a `FeeLookup`): whichever
    cell holds a merchant's payments, its profile lives in the directory."""

    def __init__(self, directory: EventStore) -> None:
        self._directory = directory

    def __call__(self, merchant_id: UUID) -> FeeSchedule:
        merchant = self._directory.get(merchant_id, Merchant)
        assert merchant is not None, "a payment's merchant exists"
        return merchant.fees


class SettlementCurrencies:
    """Merchants' settlement currencies, read from the directory (as `MerchantFees`)."""

    def __init__(self, directory: EventStore) -> None:
        self._directory = directory

    def __call__(self, merchant_id: UUID) -> str:
        merchant = self._directory.get(merchant_id, Merchant)
        if merchant is None:
            raise NotFound("no such merchant")
        return merchant.settlement_currency
