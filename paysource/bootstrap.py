"""The composition root: the one place that builds paysource's objects and wires them.

Nothing connects at import time; `build_container` opens pools, `Container.close`
closes them. The API (`paysource.entrypoints.http.app.create_app`, REST and GraphQL),
the worker, the webhook worker and the CLI all start from here: they take what they
need from the container and build nothing themselves. The worker's jobs are the
process catalog's (`paysource.processes.catalog`), built from `process_parts`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.adapters.acquirer_sim import PostgresLedger, SimulatedAcquirer
from paysource.adapters.bank_sim import BankBehaviour, SimulatedBank
from paysource.adapters.clock import SystemClock
from paysource.adapters.nats.jetstream import JetStreamStream
from paysource.adapters.postgres.datastore import datastore, eventsourcing_env, seed_partitions
from paysource.adapters.postgres.health import OutageGate
from paysource.adapters.postgres.moves import PostgresCopiedRanges
from paysource.adapters.postgres.pii_vault import PostgresPersonalDataVault
from paysource.adapters.postgres.placements import Placement, PostgresPlacements
from paysource.adapters.postgres.pools import budgeted_recorder
from paysource.adapters.postgres.rates import PostgresRates
from paysource.adapters.postgres.reads import ReadDb
from paysource.adapters.postgres.replicas import ReplicaLag, ReplicaRoute
from paysource.adapters.postgres.webhook_queue import DeliveryQueue
from paysource.adapters.redis.cache import RedisCache
from paysource.adapters.redis.feed import PaymentFeed
from paysource.adapters.redis.publisher import RedisChannels
from paysource.adapters.vault import TestCardVault
from paysource.adapters.webhook_http import HttpSender, Resolver, UrlGuard, system_resolver
from paysource.application.audit import AuditService, Signer
from paysource.application.auth import Authenticator
from paysource.application.customers import CustomerService
from paysource.application.disputes import DisputeNotices, DisputeService
from paysource.application.errors import MerchantMoving, NotFound
from paysource.application.eventlog import EventStore, GroupCommitSettings, Wakeup
from paysource.application.fastpath import FastPath
from paysource.application.merchants import MerchantFees, MerchantService, SettlementCurrencies
from paysource.application.payments import PaymentService
from paysource.application.ports import Acquirer, BankRail, Clock, FeeLookup, WebhookTransport
from paysource.application.rate_limits import RateLimits
from paysource.application.rates import RatesService, UsdRates
from paysource.application.reconciliation import ReconciliationService
from paysource.application.refunds import RefundService
from paysource.application.relay_resolution import RelayResolutionService
from paysource.application.settlements import SettlementService
from paysource.application.tokens import TokenIssuer, issuer_for
from paysource.application.webhooks.catalog import WebhookCatalog, standard_catalog
from paysource.application.webhooks.deliveries import WebhookDeliveryService
from paysource.application.webhooks.endpoints import SecretKeys, WebhookEndpointService
from paysource.application.webhooks.settings import WebhookSettings
from paysource.config import Settings
from paysource.domain.payment import Payment
from paysource.processes.audit_log import AuditLog, AuditLogView
from paysource.processes.catalog import CellProcessParts
from paysource.processes.relay import EventRelay
from paysource.processes.webhook_delivery import Deliverer, DeliveryWorker, stored_traceparent
from paysource.processes.webhook_outbox import WebhookOutbox, WebhookOutboxView
from paysource.readmodels.catalog import ReadModels, caught_up
from paysource.readmodels.events.queries import RelayQueries

log = logging.getLogger(__name__)


@dataclass
class Cell:
    """One Postgres cluster and everything kept in it for the merchants it serves."""

    name: str
    database_url: str
    store: EventStore
    read: ReadModels
    customers: CustomerService
    payments: PaymentService
    refunds: RefundService
    settlements: SettlementService
    fees: FeeLookup
    vault: PostgresPersonalDataVault
    audit_log: AuditLogView
    audit: AuditService
    reconciliation: ReconciliationService
    disputes: DisputeService
    rates: RatesService  # the directory's: one table of rates for every cell
    replicas: ReplicaRoute | None = None  # hot standbys for lists and reports

    def close(self) -> None:
        self.store.close()
        self.read.close()
        self.vault.close()
        if self.replicas is not None:
            self.replicas.close()


def _refuse_if_moving(placement: Placement) -> None:
    if placement.moving_to is not None:
        raise MerchantMoving(
            f"this merchant is being moved to {placement.moving_to}; retry shortly"
            " (retries with the same Idempotency-Key are safe)"
        )


class CellRouter:
    """The one place that picks the database of a merchant.

    Every object is keyed by its merchant and no write spans two merchants, so the
    merchant's entry in the directory (`placements`) names the cell of everything it
    does. Writes ask `for_write`, which refuses them while the merchant is being moved
    to another cell (`paysource cells move`); reads continue from the source cell.
    """

    def __init__(self, cells: list[Cell], placements: PostgresPlacements | None = None) -> None:
        assert cells, "at least one cell"
        self._cells = cells
        self._by_name = {cell.name: cell for cell in cells}
        self.placements = placements  # None: one cell holds every merchant

    def for_merchant(self, merchant_id: UUID) -> Cell:
        if self.placements is None:
            return self._cells[0]
        name = self.placements.cell_of(merchant_id)
        # Unplaced: a merchant from before cells, in the directory cell.
        return self._by_name[name] if name in self._by_name else self._cells[0]

    def for_write(self, merchant_id: UUID) -> Cell:
        """The merchant's cell for a command; MerchantMoving (503) during a move."""
        if self.placements is not None:
            _refuse_if_moving(self.placements.placement(merchant_id))
        return self.for_merchant(merchant_id)

    def known(self, merchant_id: UUID, *, write: bool) -> Cell | None:
        """`for_write` (or `for_merchant`) when it needs no I/O, else None: async code
        asks then, and looks up in a thread only when the placement's second is up, so
        a slow or down directory never holds the event loop."""
        if self.placements is None:
            return self._cells[0]
        placement = self.placements.cached(merchant_id)
        if placement is None:
            return None
        if write:
            _refuse_if_moving(placement)
        return self._by_name.get(placement.cell or "", self._cells[0])

    def named(self, name: str) -> Cell | None:
        return self._by_name.get(name)

    @property
    def directory(self) -> Cell:
        """Where merchants and API keys live (small, global, rarely written)."""
        return self._cells[0]

    def all(self) -> list[Cell]:
        return list(self._cells)


@dataclass
class Container:
    settings: Settings
    router: CellRouter
    authenticator: Authenticator
    merchants: MerchantService
    acquirer: Acquirer
    bank: BankRail
    clock: Clock
    cache: RedisCache | None
    fast_path: FastPath
    tokens: TokenIssuer
    rate_limits: RateLimits
    # Watches the directory cell's database: while it is known down, the API refuses
    # requests at once (503) instead of letting each wait out the driver's retries.
    gate: OutageGate | None = None
    wakeup: Wakeup = field(default_factory=Wakeup)
    webhooks: Webhooks | None = None

    def async_reads(self) -> ReadDb:
        """Async read pools for one app: a new one each time, because its pools open in
        the event loop of the server that first uses them and close with that app."""
        urls = {cell.name: cell.database_url for cell in self.router.all()}
        gate = self.gate
        return ReadDb(
            urls,
            replicas={c.name: c.replicas for c in self.router.all() if c.replicas is not None},
            max_size=self.settings.read_pool_size,
            recoveries=(lambda: gate.recoveries) if gate is not None else (lambda: 0),
        )

    def relay_resolution(self, payment_id: UUID) -> RelayResolutionService:
        """Resolution of a refused capture, in the cell of the payment's merchant (any
        merchant: operators act for all). A moved merchant's payment is found in its
        old cell too (history stays there), so the directory picks the cell."""
        for cell in self.router.all():
            found = cell.store.get(payment_id, Payment, version=1)
            if found is not None:
                store = self.router.for_write(found.merchant_id).store
                return RelayResolutionService(store, self.acquirer)
        raise NotFound("no such payment")

    def payment_feed(self) -> PaymentFeed:
        """Live payment changes for one app's subscriptions (Redis pub/sub); it opens
        its connection with the first subscription, in that app's event loop."""
        return PaymentFeed(self.settings.redis_url)

    def close(self) -> None:
        if self.webhooks is not None:
            self.webhooks.close()
        for cell in self.router.all():
            cell.close()
        if self.router.placements is not None:
            self.router.placements.close()
        if self.cache is not None:
            self.cache.close()


def build_cell(
    settings: Settings,
    database_url: str,
    *,
    name: str = "cell-0",
    directory: EventStore | None = None,
    rates: RatesService | None = None,
    answers: FastPath | None = None,
) -> Cell:
    """A cell; `directory` is the store of merchants and keys (None: this cell's own);
    `answers`: the idempotency fast path (Redis), whose answers erasure forgets."""
    # Customers' keys live beside their events, in the merchant's cell only: a move copies
    # them to the target and destroys the source's (moves.forget_merchant).
    vault = PostgresPersonalDataVault(
        datastore(database_url, pool_size=2, max_overflow=8), settings.pii_master_key_bytes
    )
    store = EventStore(
        eventsourcing_env(
            database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        ),
        group_commit=GroupCommitSettings(
            window_s=settings.group_commit_window_ms / 1000,
            max_batch=settings.group_commit_max_batch,
        )
        if settings.group_commit
        else None,
        vault=vault,
    )
    budgeted_recorder(store.recorder, database_url)
    primary = datastore(database_url, pool_size=settings.read_pool_size)
    replicas = replica_route(settings, name, database_url, primary)
    read = ReadModels(primary, replicas.for_lists if replicas else None)
    fees = MerchantFees(directory or store)
    rates = rates or RatesService(PostgresRates(primary))
    audit_log = AuditLogView(read.datastore)
    disputes = DisputeService(store, vault, read.disputes, answers)
    return Cell(
        name=name,
        database_url=database_url,
        store=store,
        read=read,
        customers=CustomerService(store, vault, disputes),
        payments=PaymentService(store, TestCardVault(), fees=fees),
        refunds=RefundService(store),
        settlements=SettlementService(
            store,
            read.settlements,
            rates=rates,
            settlement_currency=SettlementCurrencies(directory or store),
            caught_up=caught_up(
                store, primary, "settlements", timeout_s=settings.read_model_wait_s
            ),
        ),
        fees=fees,
        vault=vault,
        audit_log=audit_log,
        audit=AuditService(audit_log, Signer(settings.audit_seed)),
        reconciliation=ReconciliationService(
            store,
            read.reconciliation,
            caught_up(store, primary, "ledger", timeout_s=settings.read_model_wait_s),
        ),
        disputes=disputes,
        rates=rates,
        replicas=replicas,
    )


def replica_route(
    settings: Settings, cell: str, database_url: str, primary: PostgresDatastore
) -> ReplicaRoute | None:
    """The cell's hot standbys for lists and reports, if any are configured."""
    urls = settings.replica_urls_for(cell)
    if not urls:
        return None
    lags = [
        (
            datastore(url, pool_size=settings.read_pool_size),
            ReplicaLag(database_url, url, max_lag_s=settings.replica_max_lag_s),
        )
        for url in urls
    ]
    return ReplicaRoute(primary, lags)


def _merchant_ids(text: str) -> frozenset[UUID]:
    """`mer_…` ids or UUIDs, comma-separated (settings of the bank simulator)."""
    ids = (part.strip().removeprefix("mer_") for part in text.split(","))
    return frozenset(UUID(hex=part) for part in ids if part)


def build_bank(settings: Settings, database_url: str) -> SimulatedBank:
    return SimulatedBank(
        database_url,
        BankBehaviour(
            latency_s=settings.bank_latency_ms / 1000,
            refuse_merchants=_merchant_ids(settings.bank_refuse_merchants),
            timeout_merchants=_merchant_ids(settings.bank_timeout_merchants),
            max_payout_minor=settings.bank_max_payout_minor,
        ),
    )


def build_router(
    settings: Settings, database_url: str, answers: FastPath | None = None
) -> CellRouter:
    """The directory cell (`cell-0`, on the database URL) and any others (PAYSOURCE_CELLS),
    each keeping its own merchants' objects; merchants and keys live in the directory."""
    directory = build_cell(settings, database_url, answers=answers)
    extra = settings.extra_cells()
    others = [
        build_cell(
            settings,
            url,
            name=name,
            directory=directory.store,
            rates=directory.rates,
            answers=answers,
        )
        for name, url in extra.items()
    ]
    if not others:
        return CellRouter([directory])
    placements = PostgresPlacements(database_url, [directory.name, *extra])
    return CellRouter([directory, *others], placements)


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    acquirer: Acquirer | None = None,
    bank: BankRail | None = None,
) -> Container:
    """Wire paysource for `settings`, whose database URL must be set by now."""
    assert settings.database_url, "the CLI resolves the database URL before building"
    cache = RedisCache(settings.redis_url) if settings.redis_url else None
    fast_path = FastPath(
        cache,
        ttl_s=settings.idempotency_cache_ttl_s,
        lock_ttl_s=settings.idempotency_lock_ttl_s,
    )
    router = build_router(settings, settings.database_url, fast_path)
    directory = router.directory.store
    authenticator = Authenticator(directory, admin_key=settings.admin_key.get_secret_value())
    if acquirer is None:
        acquirer = SimulatedAcquirer(
            PostgresLedger(settings.database_url),
            latency_s=settings.acquirer_latency_ms / 1000,
        )
    container = Container(
        settings=settings,
        router=router,
        authenticator=authenticator,
        merchants=MerchantService(directory, authenticator, router.placements),
        acquirer=acquirer,
        bank=bank or build_bank(settings, settings.database_url),
        clock=clock or SystemClock(),
        cache=cache,
        fast_path=fast_path,
        tokens=issuer_for(settings),
        rate_limits=RateLimits(directory),
        gate=OutageGate(router.directory.database_url),
    )
    container.webhooks = Webhooks(container, settings.webhook)
    _watch_pools(container)
    return container


def _watch_pools(container: Container) -> None:
    """One health state per pool of the directory cell, which the API's gate watches."""
    assert container.gate is not None
    cell = container.router.directory
    container.gate.watch("events", _pool_of(cell.store.recorder))
    container.gate.watch("reads", cell.read.datastore.pool)
    if container.webhooks is not None:
        container.gate.watch("webhooks", container.webhooks.for_cell(cell).queue.datastore.pool)


def _pool_of(recorder: object) -> Any:
    return getattr(getattr(recorder, "datastore", None), "pool", None)


def process_parts(
    container: Container, cell: Cell, *, pool: ThreadPoolExecutor | None = None
) -> CellProcessParts:
    """What `processes.catalog` builds one cell's process managers from."""
    webhooks = container.webhooks
    redis_url = container.settings.redis_url
    channels = RedisChannels(redis_url) if redis_url else None
    return CellProcessParts(
        store=cell.store,
        payments=cell.read.payments,
        settlements=cell.settlements,
        waiting_items=cell.read.settlements,
        fees=cell.fees,
        acquirer=container.acquirer,
        bank=container.bank,
        clock=container.clock,
        wakeup=container.wakeup,
        seed_partitions=lambda names: seed_partitions(
            cell.database_url, prefix="processor-", names=names
        ),
        pool=pool,
        publish=None if channels is None else channels.publish,
        listened=None if channels is None else channels.listened,
        webhook_outbox=None if webhooks is None else webhooks.outbox(cell),
        webhook_delivery=None if webhooks is None else webhooks.delivery_worker(cell),
        relay=event_relay(container.settings, cell),
        disputes=cell.disputes,
        dispute_notices=dispute_notices_of(container.acquirer),
        disputes_past_due=cell.read.disputes,
        usd_rates=UsdRates(cell.rates.table),
        copied=PostgresCopiedRanges(cell.read.datastore),
        audit=AuditLog(
            cell.audit_log,
            cell.audit.signer,
            container.clock,
            log_id=cell.name,
            head_every_s=container.settings.audit_head_interval_s,
        ),
    )


def dispute_notices_of(acquirer: Acquirer) -> DisputeNotices | None:
    """The acquirer's chargeback notices, if it sends them (the simulator does)."""
    return acquirer if isinstance(acquirer, SimulatedAcquirer) else None


def event_relay(settings: Settings, cell: Cell) -> EventRelay | None:
    """The cell's relay to NATS JetStream, when a NATS URL is set (else none)."""
    if settings.nats_url is None:
        return None
    stream = JetStreamStream(
        [url.strip() for url in settings.nats_url.get_secret_value().split(",") if url.strip()],
        f"{settings.nats_stream_prefix}_{cell.name.upper().replace('-', '_')}",
        cell.name,
        replicas=settings.nats_replicas,
        timeout_s=settings.nats_timeout_s,
    )
    rows = RelayQueries(cell.read.datastore)
    return EventRelay(cell.name, rows, stream, batch_size=settings.nats_batch_size)


# Webhooks ----------------------------------------------------------------------


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
            trace_of=stored_traceparent(cell.store),
        )
        deliveries = WebhookDeliveryService(endpoints, queue, cell.store)
        return CellWebhooks(cell, queue, endpoints, deliverer, deliveries)

    def for_cell(self, cell: Cell) -> CellWebhooks:
        return self._cells[cell.name]

    def outbox(self, cell: Cell) -> WebhookOutbox:
        """The outbox handler: run it under a `Follower` (a leased worker job)."""
        view = WebhookOutboxView(self.for_cell(cell).queue.datastore)
        return WebhookOutbox(cell.store, view, self.catalog)

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
