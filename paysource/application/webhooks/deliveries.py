"""A merchant's view of its deliveries: list them, read one, ask for a resend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from paysource.application.errors import NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome
from paysource.application.ports import DeliveryQueue
from paysource.application.webhooks.endpoints import WebhookEndpointService
from paysource.domain.meta import Meta
from paysource.domain.webhook_endpoint import DeliveryResend

# A delivery's lease is the delivery lanes' business, not part of any answer.
_LEASE_COLUMNS = frozenset({"locked_until", "locked_by"})


@dataclass(frozen=True, slots=True)
class DeliveryView:
    row: dict[str, Any]
    attempts: list[dict[str, Any]]


class WebhookDeliveryService:
    def __init__(
        self, endpoints: WebhookEndpointService, queue: DeliveryQueue, store: EventStore
    ) -> None:
        self._endpoints = endpoints
        self._queue = queue
        self._store = store
        self._claims = Claims(store)

    def list_deliveries(
        self,
        *,
        merchant_id: UUID,
        endpoint_id: UUID,
        limit: int,
        starting_after: UUID | None,
        status: str | None,
    ) -> tuple[list[DeliveryView], bool]:
        """Newest first. Ownership is the endpoint's: another merchant's is not found."""
        self._endpoints.get(merchant_id=merchant_id, endpoint_id=endpoint_id)
        try:
            rows, has_more = self._queue.list_deliveries(
                endpoint_id, limit=limit, starting_after=starting_after, status=status
            )
        except KeyError:
            raise NotFound("no such delivery to start after") from None
        attempts = self._queue.attempts([row["id"] for row in rows])
        return [DeliveryView(row, attempts[row["id"]]) for row in rows], has_more

    def get_delivery(
        self, *, merchant_id: UUID, endpoint_id: UUID, delivery_id: UUID
    ) -> DeliveryView:
        self._endpoints.get(merchant_id=merchant_id, endpoint_id=endpoint_id)
        row = self._queue.delivery(endpoint_id, delivery_id)
        if row is None:
            raise NotFound("no such webhook delivery")
        return DeliveryView(row, self._queue.attempts([delivery_id])[delivery_id])

    def resend(
        self,
        *,
        merchant_id: UUID,
        endpoint_id: UUID,
        delivery_id: UUID,
        idempotency_key: str | None,
        request_hash: str,
        meta: Meta,
    ) -> Outcome[DeliveryView]:
        """Queue one manual attempt of the delivery, due now, whatever its status and
        order (the merchant asked; receivers drop stale versions by `object_version`).
        The delivery lanes make it, within the per-endpoint and per-merchant limits:
        the API request never waits for a receiver.

        With a key, the answer is kept in the key's claim (`DeliveryResend`): a replay
        answers the delivery as that resend showed it and queues nothing. The queue is
        not the event store, so the resend and its claim are two writes, the resend
        first: a crash between them leaves the key unclaimed and the resend queued, and
        a retry then queues it again (one resend still, unless its attempt was made
        meanwhile). A concurrent request with the same key queues the same resend
        (resends asked for before the attempt are one) and answers the winner's claim."""
        if idempotency_key is None:
            return Outcome(self._resend(merchant_id, endpoint_id, delivery_id))
        key = idempotency_key

        def attempt() -> Outcome[DeliveryResend]:
            view = self._resend(merchant_id, endpoint_id, delivery_id)
            delivery = {k: v for k, v in view.row.items() if k not in _LEASE_COLUMNS}
            claim = DeliveryResend.answered(
                merchant_id=merchant_id,
                key=key,
                request_hash=request_hash,
                endpoint_id=endpoint_id,
                delivery_id=delivery_id,
                delivery=delivery,
                attempts=view.attempts,
                meta=meta,
            )
            self._store.save(claim)
            return Outcome(claim)

        outcome = self._claims.run(
            merchant_id=merchant_id,
            key=key,
            request_hash=request_hash,
            kind=DeliveryResend,
            attempt=attempt,
        )
        claim = outcome.value
        return Outcome(DeliveryView(claim.delivery, claim.attempts), outcome.replayed)

    def _resend(self, merchant_id: UUID, endpoint_id: UUID, delivery_id: UUID) -> DeliveryView:
        self._endpoints.get(merchant_id=merchant_id, endpoint_id=endpoint_id)
        if not self._queue.request_resend(endpoint_id, delivery_id):
            raise NotFound("no such webhook delivery")  # unknown, another's, or canceled
        return self.get_delivery(
            merchant_id=merchant_id, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
