"""The composition root: the one place that builds paysource's objects and wires them.

Nothing connects at import time; `build_container` opens pools, `Container.close`
closes them. The API (`paysource.api.app.create_app`), the worker and the CLI all
start from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from uuid import UUID

from paysource.adapters.acquirer_sim import PostgresLedger, SimulatedAcquirer
from paysource.adapters.bank_sim import BankBehaviour, SimulatedBank
from paysource.adapters.clock import SystemClock
from paysource.adapters.postgres import (
    OutageGate,
    bound_recorder_reconnects,
    datastore,
    eventsourcing_env,
)
from paysource.adapters.redis_cache import RedisCache
from paysource.adapters.vault import TestCardVault
from paysource.application.auth import Authenticator
from paysource.application.bank import BankRail
from paysource.application.customers import CustomerService
from paysource.application.follower import Wakeup
from paysource.application.merchants import MerchantFees, MerchantService
from paysource.application.payments import PaymentService
from paysource.application.ports import Acquirer, Clock, FeeLookup
from paysource.application.refunds import RefundService
from paysource.application.settlements import SettlementService
from paysource.application.store import EventStore
from paysource.application.webhook_wiring import Webhooks
from paysource.config import Settings
from paysource.projections.catalog import ReadModels

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

    def close(self) -> None:
        self.store.close()
        self.read.close()


class CellRouter:
    """The one place that picks the database of a merchant.

    Today there is one cell. Every object is keyed by its merchant and no write spans
    two merchants, so spreading merchants over several cells needs only this class
    to look the merchant up in a directory instead.
    """

    def __init__(self, cells: list[Cell]) -> None:
        assert cells, "at least one cell"
        self._cells = cells

    def for_merchant(self, merchant_id: UUID) -> Cell:
        del merchant_id  # one cell holds every merchant for now
        return self._cells[0]

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
    # Watches the directory cell's database: while it is known down, the API refuses
    # requests at once (503) instead of letting each wait out the driver's retries.
    gate: OutageGate | None = None
    wakeup: Wakeup = field(default_factory=Wakeup)
    webhooks: Webhooks | None = None

    def close(self) -> None:
        if self.webhooks is not None:
            self.webhooks.close()
        for cell in self.router.all():
            cell.close()
        if self.cache is not None:
            self.cache.close()


def build_cell(
    settings: Settings,
    database_url: str,
    *,
    name: str = "cell-0",
    directory: EventStore | None = None,
) -> Cell:
    """A cell; `directory` is the store of merchants and keys (None: this cell's own)."""
    store = EventStore(
        eventsourcing_env(
            database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
    )
    bound_recorder_reconnects(store.recorder)
    read = ReadModels(datastore(database_url, pool_size=settings.read_pool_size))
    fees = MerchantFees(directory or store)
    return Cell(
        name=name,
        database_url=database_url,
        store=store,
        read=read,
        customers=CustomerService(store),
        payments=PaymentService(store, TestCardVault(), fees=fees),
        refunds=RefundService(store),
        settlements=SettlementService(store, read.settlements),
        fees=fees,
    )


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


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    acquirer: Acquirer | None = None,
    bank: BankRail | None = None,
) -> Container:
    """Wire paysource for `settings`, whose database URL must be set by now."""
    assert settings.database_url, "the CLI resolves the database URL before building"
    cell = build_cell(settings, settings.database_url)
    router = CellRouter([cell])
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
        merchants=MerchantService(directory, authenticator),
        acquirer=acquirer,
        bank=bank or build_bank(settings, settings.database_url),
        clock=clock or SystemClock(),
        cache=RedisCache(settings.redis_url) if settings.redis_url else None,
        gate=OutageGate(router.directory.database_url),
    )
    container.webhooks = Webhooks(container, settings.webhook)
    return container
