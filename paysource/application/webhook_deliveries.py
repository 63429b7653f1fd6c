"""A merchant's view of its deliveries: list them, read one, resend one now."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from paysource.application.errors import ConcurrentModification, NotFound
from paysource.application.webhook_delivery import Deliverer
from paysource.application.webhook_queue import DeliveryQueue
from paysource.application.webhooks import WebhookEndpointService


@dataclass(frozen=True, slots=True)
class DeliveryView:
    row: dict[str, Any]
    attempts: list[dict[str, Any]]


class WebhookDeliveryService:
    def __init__(
        self,
        endpoints: WebhookEndpointService,
        queue: DeliveryQueue,
        deliverer: Deliverer,
        *,
        lease_s: float,
    ) -> None:
        self._endpoints = endpoints
        self._queue = queue
        self._deliverer = deliverer
        self._lease_s = lease_s
        self._worker = f"api:{os.getpid()}:{uuid4().hex[:8]}"

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
        """Attempt the delivery once, now, whatever its status and order (the merchant
        asked; receivers drop stale versions by `object_version`)."""
        found = self.get_delivery(
            merchant_id=merchant_id, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
        if found.row["status"] == "canceled":
            raise NotFound("no such webhook delivery")
        claimed = self._queue.claim_one(
            delivery_id, endpoint_id, worker=self._worker, lease_s=self._lease_s
        )
        if claimed is None:
            raise ConcurrentModification("the delivery is being attempted right now; retry")
        self._deliverer.deliver(claimed, worker=self._worker, trigger="manual")
        return self.get_delivery(
            merchant_id=merchant_id, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
