"""The webhooks' composition root: builds their parts for every cell of a container.

The API (`paysource.api.routes.webhooks.install`), the worker jobs and the
stand-alone webhook worker all start from `Webhooks`. Nothing connects at import;
`Webhooks.close` closes what it opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from paysource.adapters.postgres import datastore
from paysource.adapters.webhook_http import HttpSender, Resolver, UrlGuard, system_resolver
from paysource.application.follower import Follower
from paysource.application.webhook_catalog import WebhookCatalog, standard_catalog
from paysource.application.webhook_deliveries import WebhookDeliveryService
from paysource.application.webhook_delivery import Deliverer, DeliveryWorker
from paysource.application.webhook_ports import WebhookTransport
from paysource.application.webhook_queue import DeliveryQueue
from paysource.application.webhook_settings import WebhookSettings
from paysource.application.webhooks import SecretKeys, WebhookEndpointService
from paysource.projections.webhooks import WebhookOutbox, WebhookOutboxView

if TYPE_CHECKING:  # bootstrap may build Webhooks: no import cycle at run time
    from paysource.bootstrap import Cell, Container


@dataclass
class CellWebhooks:
    """The webhook services of one cell, on their own connection pool."""

    cell: Cell
    queue: DeliveryQueue
    endpoints: WebhookEndpointService
    deliverer: Deliverer
    deliveries: WebhookDeliveryService


class Webhooks:
    def __init__(
        self,
        container: Container,
        settings: WebhookSettings | None = None,
        *,
        catalog: WebhookCatalog | None = None,
        resolver: Resolver = system_resolver,
        transport: WebhookTransport | None = None,
    ) -> None:
        self.container = container
        self.settings = settings or container.settings.webhook
        self.catalog = catalog or standard_catalog()
        self.guard = UrlGuard(
            allow_private=self.settings.allow_private_networks,
            resolver=resolver,
            resolve_timeout_s=self.settings.connect_timeout_s,
        )
        self._sender = HttpSender(
            self.guard,
            connect_timeout_s=self.settings.connect_timeout_s,
            read_timeout_s=self.settings.read_timeout_s,
        )
        self.transport: WebhookTransport = transport or self._sender
        self.keys = SecretKeys(self.settings.signing_key.get_secret_value())
        self._cells = {cell.name: self._build(cell) for cell in container.router.all()}

    def _build(self, cell: Cell) -> CellWebhooks:
        pool = datastore(cell.database_url, pool_size=self.settings.delivery_lanes + 4)
        queue = DeliveryQueue(pool)
        endpoints = WebhookEndpointService(cell.store, self.catalog, self.guard, queue, self.keys)
        deliverer = Deliverer(
            queue,
            self.transport,
            endpoints,
            self.keys,
            schedule=self.settings.retry_schedule,
            disable=self.settings.disable_policy,
        )
        deliveries = WebhookDeliveryService(endpoints, queue)
        return CellWebhooks(cell, queue, endpoints, deliverer, deliveries)

    def for_cell(self, cell: Cell) -> CellWebhooks:
        return self._cells[cell.name]

    def outbox(self, cell: Cell) -> WebhookOutbox:
        """The outbox handler: run it under a `Follower` (a leased worker job)."""
        view = WebhookOutboxView(self.for_cell(cell).queue.datastore)
        return WebhookOutbox(cell.store, view, self.catalog)

    def outbox_follower(self, cell: Cell) -> Follower:
        settings = self.container.settings
        return Follower(
            cell.store,
            self.outbox(cell),
            wakeup=self.container.wakeup,
            batch_size=settings.worker_batch_size,
            poll_interval_s=settings.follower_poll_interval_s,
        )

    def delivery_worker(self, cell: Cell) -> DeliveryWorker:
        """Delivery lanes: `run(stop)` until stopped. Any number may run, anywhere."""
        settings = self.settings
        return DeliveryWorker(
            self.for_cell(cell).queue,
            self.for_cell(cell).deliverer,
            lanes=settings.delivery_lanes,
            batch_size=settings.delivery_batch_size,
            lease_s=settings.lease_s,
            poll_interval_s=settings.poll_interval_s,
            per_merchant=settings.max_in_flight_per_merchant,
        )

    def close(self) -> None:
        self._sender.close()
        for cell_webhooks in self._cells.values():
            cell_webhooks.queue.datastore.close()
