"""A merchant's view of its deliveries: list them, read one, ask for a resend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from paysource.application.errors import NotFound
from paysource.application.ports import DeliveryQueue
from paysource.application.webhooks.endpoints import WebhookEndpointService


@dataclass(frozen=True, slots=True)
class DeliveryView:
    row: dict[str, Any]
    attempts: list[dict[str, Any]]


class WebhookDeliveryService:
    def __init__(self, endpoints: WebhookEndpointService, queue: DeliveryQueue) -> None:
        self._endpoints = endpoints
        self._queue = queue

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

    def resend(self, *, merchant_id: UUID, endpoint_id: UUID, delivery_id: UUID) -> DeliveryView:
        """Queue one manual attempt of the delivery, due now, whatever its status and
        order (the merchant asked; receivers drop stale versions by `object_version`).
        The delivery lanes make it, within the per-endpoint and per-merchant limits:
        the API request never waits for a receiver."""
        self._endpoints.get(merchant_id=merchant_id, endpoint_id=endpoint_id)
        if not self._queue.request_resend(endpoint_id, delivery_id):
            raise NotFound("no such webhook delivery")  # unknown, another's, or canceled
        return self.get_delivery(
            merchant_id=merchant_id, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
