"""Webhook endpoint commands: register, enable, rotate the secret, delete, disable.

Secrets are derived, never stored: `whsec_` + HMAC-SHA256(master key,
"<endpoint id>:<generation>"). The event log is immutable and copied to every
replica and backup; a secret written there could never be erased. Deriving it
keeps the one thing to guard in the settings (see docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID, uuid4

from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome, with_conflict_retries
from paysource.application.ids import encode
from paysource.application.ports import UrlCheck
from paysource.application.webhooks.catalog import WebhookCatalog
from paysource.domain.errors import IllegalTransition
from paysource.domain.idempotency import IdempotencyRecord, claim_id
from paysource.domain.meta import Meta
from paysource.domain.webhook_endpoint import EndpointSlot, WebhookEndpoint, endpoint_slot_id

log = logging.getLogger(__name__)

# The API's id of an endpoint is `we_<hex>`; logs show it so too.
ENDPOINT_ID_PREFIX = "we"
SECRET_PREFIX = "whsec_"  # noqa: S105  # a prefix, not a secret
MAX_ENDPOINTS_PER_MERCHANT = 16


class SecretKeys:
    def __init__(self, master_key: str) -> None:
        assert len(master_key) >= 16, "the webhook signing key is checked by the settings"
        self._master = master_key.encode()

    def secret(self, endpoint: WebhookEndpoint) -> str:
        return self.secret_for(endpoint.id, endpoint.secret_generation)

    def secret_for(self, endpoint_id: UUID, generation: int) -> str:
        message = f"{endpoint_id}:{generation}".encode()
        return SECRET_PREFIX + hmac.new(self._master, message, hashlib.sha256).hexdigest()


class EndpointCount(Protocol):
    def count_endpoints(self, merchant_id: UUID) -> int: ...


class EndpointSlots:
    """A merchant's MAX_ENDPOINTS_PER_MERCHANT places for endpoints, in the event store:
    the cap holds under concurrency and whatever the outbox follower has seen, since
    two registrations taking one place conflict on save (then retry)."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def take(self, merchant_id: UUID, endpoint_id: UUID, meta: Meta) -> EndpointSlot:
        """A free place of the merchant, taken for `endpoint_id` (save it with the
        endpoint); webhook_endpoint_limit when every place is taken."""
        slots = self._slots(merchant_id)
        free = [n for n, slot in enumerate(slots) if slot is None or slot.endpoint_id is None]
        if not free:
            raise _limit_reached()
        # A random place: concurrent registrations rarely pick the same, so rarely retry.
        number = random.choice(free)  # noqa: S311  # not cryptographic
        slot = slots[number]
        if slot is None:
            return EndpointSlot.first_take(
                merchant_id=merchant_id, number=number, endpoint_id=endpoint_id, meta=meta
            )
        slot.take(endpoint_id, meta)
        return slot

    def held_by(self, merchant_id: UUID, endpoint_id: UUID) -> EndpointSlot | None:
        """The endpoint's place; None for an endpoint registered before places existed."""
        found = (s for s in self._slots(merchant_id) if s and s.endpoint_id == endpoint_id)
        return next(found, None)

    def _slots(self, merchant_id: UUID) -> list[EndpointSlot | None]:
        ids = [endpoint_slot_id(merchant_id, n) for n in range(MAX_ENDPOINTS_PER_MERCHANT)]
        found = self._store.get_many(ids)  # one query for all of them
        return [s if isinstance(s := found.get(i), EndpointSlot) else None for i in ids]


def _limit_reached() -> IllegalTransition:
    return IllegalTransition(
        f"a merchant may have at most {MAX_ENDPOINTS_PER_MERCHANT} endpoints",
        code="webhook_endpoint_limit",
    )


@dataclass(frozen=True, slots=True)
class _Keyed:
    """What a keyed change of an endpoint claims: its operation, key, fingerprint, meta."""

    operation: str
    key: str | None
    request_hash: str
    meta: Meta


class WebhookEndpointService:
    def __init__(
        self,
        store: EventStore,
        catalog: WebhookCatalog,
        guard: UrlCheck,
        counts: EndpointCount,
        keys: SecretKeys,
    ) -> None:
        self._store = store
        self._claims = Claims(store)
        self._slots = EndpointSlots(store)
        self._catalog = catalog
        self._guard = guard
        self._counts = counts
        self._keys = keys

    def register(
        self,
        *,
        merchant_id: UUID,
        url: str,
        events: list[str],
        description: str | None,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> tuple[Outcome[WebhookEndpoint], str]:
        """Register an endpoint; return it and its signing secret (shown once)."""

        def attempt() -> Outcome[WebhookEndpoint]:
            self._guard.check(url)  # refuses bad URLs too: all as webhook_url_refused
            # The places are the cap. The outbox's count also sees endpoints registered
            # before places existed, which hold none (once it has caught up with them).
            if self._counts.count_endpoints(merchant_id) >= MAX_ENDPOINTS_PER_MERCHANT:
                raise _limit_reached()
            endpoint_id = claim_id(merchant_id, idempotency_key) if idempotency_key else uuid4()
            slot = self._slots.take(merchant_id, endpoint_id, meta)
            endpoint = WebhookEndpoint.register(
                endpoint_id=endpoint_id,
                merchant_id=merchant_id,
                url=url,
                events=events,
                known_types=self._catalog.event_types,
                description=description,
                request_hash=request_hash,
                meta=meta,
            )
            self._store.save(slot, endpoint)  # one merchant's, in one transaction
            return Outcome(endpoint)

        outcome = self._claims.run(
            merchant_id=merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            kind=WebhookEndpoint,
            attempt=attempt,
        )
        # A replay shows the secret again: it is the same answer to the same caller,
        # and a client whose first response was lost would otherwise never learn it.
        return outcome, self._keys.secret(outcome.value)

    def get(self, *, merchant_id: UUID, endpoint_id: UUID) -> WebhookEndpoint:
        """The endpoint, if `merchant_id` owns it and it is not deleted."""
        endpoint = self._store.get(endpoint_id, WebhookEndpoint)
        if endpoint is None or endpoint.merchant_id != merchant_id or endpoint.status == "deleted":
            raise NotFound("no such webhook endpoint")
        return endpoint

    def enable(
        self,
        *,
        merchant_id: UUID,
        endpoint_id: UUID,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[WebhookEndpoint]:
        """Enable a disabled endpoint; return it as enabling left it. A replay enables
        nothing (a retry would otherwise be 409, the endpoint being enabled already):
        it answers the endpoint at the version that enabling left it."""

        def enable(endpoint: WebhookEndpoint) -> None:
            self._guard.check(endpoint.url)
            endpoint.enable(meta)

        keyed = _Keyed("enable_webhook_endpoint", idempotency_key, request_hash, meta)
        return self._change_once(merchant_id, endpoint_id, enable, keyed)

    def rotate_secret(
        self,
        *,
        merchant_id: UUID,
        endpoint_id: UUID,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> tuple[Outcome[WebhookEndpoint], str]:
        """Rotate the endpoint's signing secret; return it as the rotation left it, and
        the new secret. A replay rotates nothing: it answers that rotation's endpoint
        and secret (derived from the generation it recorded), as `register` does."""
        keyed = _Keyed("rotate_webhook_secret", idempotency_key, request_hash, meta)
        outcome = self._change_once(
            merchant_id, endpoint_id, lambda endpoint: endpoint.rotate_secret(meta), keyed
        )
        return outcome, self._keys.secret(outcome.value)

    def _change_once(
        self,
        merchant_id: UUID,
        endpoint_id: UUID,
        change: Callable[[WebhookEndpoint], None],
        keyed: _Keyed,
    ) -> Outcome[WebhookEndpoint]:
        """`change` the merchant's endpoint, once per key: the key's record points at
        the endpoint as the change left it, saved with it; a replay answers that."""

        def attempt() -> Outcome[WebhookEndpoint]:
            endpoint = self.get(merchant_id=merchant_id, endpoint_id=endpoint_id)
            change(endpoint)
            record = None
            if keyed.key is not None:
                record = IdempotencyRecord.record(
                    merchant_id=merchant_id,
                    key=keyed.key,
                    operation=keyed.operation,
                    request_hash=keyed.request_hash,
                    target=endpoint,
                    meta=keyed.meta,
                )
            self._store.save(endpoint, record)
            return Outcome(endpoint)

        return self._claims.run(
            merchant_id=merchant_id,
            key=keyed.key,
            request_hash=keyed.request_hash,
            kind=WebhookEndpoint,
            attempt=attempt,
        )

    def delete(self, *, merchant_id: UUID, endpoint_id: UUID, meta: Meta) -> WebhookEndpoint:
        def attempt() -> WebhookEndpoint:
            endpoint = self.get(merchant_id=merchant_id, endpoint_id=endpoint_id)
            endpoint.delete(meta)
            slot = self._slots.held_by(merchant_id, endpoint.id)
            if slot is not None:
                slot.free(endpoint.id, meta)  # in the same write: never freed twice
            self._store.save(endpoint, slot)
            return endpoint

        return with_conflict_retries(attempt)

    def disable(self, endpoint_id: UUID, *, reason: str, meta: Meta) -> bool:
        """Disable a failing endpoint (the delivery worker). False if it was not enabled."""

        def attempt() -> bool:
            endpoint = self._store.get(endpoint_id, WebhookEndpoint)
            if endpoint is None or endpoint.status != "enabled":
                return False
            endpoint.disable(reason, meta)
            self._store.save(endpoint)
            return True

        disabled = with_conflict_retries(attempt)
        if disabled:
            external = encode(ENDPOINT_ID_PREFIX, endpoint_id)
            log.warning("webhook endpoint %s disabled: %s", external, reason)
        return disabled
