"""Every process manager of a cell, as jobs (as `readmodels.catalog` lists projections).

A job is `run(stop)` until stopped, under a name that is also its lease key within the
cell (the worker leases `<cell>/<name>`), so renaming one moves its lease. Followers
resume from their tracking position, so a job may move between processes at any time.

    processor-<p>-of-<n>   the payment pipeline, one job per partition
    payouts                pays closed settlements at the bank rail
    settlement-schedule    closes due settlements at each cut-off (if scheduled)
    hold-expiry            cancels authorizations nobody captured in time
    payment-notifier       publishes payment changes for subscriptions (with Redis)
    webhook-outbox         state changes → webhook deliveries, exactly once
    webhook-delivery       the delivery lanes
    audit-log              appends every event to the Merkle tree, signs tree heads
    event-relay            indexed events onto NATS JetStream (when a NATS URL is set)
    dispute-notices        asks the acquirer about each confirmed capture; opens its chargeback
    dispute-expiry         loses disputes past their due date without evidence

Events copied into a cell by a merchant's move (`paysource cells move`) are skipped
by the jobs that act outside the log (acquirer, bank, notices, publishing, the webhook
outbox): they acted in the source cell. The move copies the merchant's webhook queue
(endpoints as they are now, events, deliveries, attempts), so the outbox has nothing
to queue for them; following them would judge old events against today's endpoints
and send them to endpoints registered after them.

The worker takes them all (by `Group`); the webhook worker takes only the webhook
jobs. Both get them from here, built from the parts the composition root wires.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from paysource.application.disputes import DisputeNotices, DisputeService
from paysource.application.eventlog import (
    BatchHandler,
    CopiedRanges,
    EventStore,
    Follower,
    Wakeup,
)
from paysource.application.ports import Acquirer, BankRail, Clock, FeeLookup, Listened, Publish
from paysource.application.rates import UsdRates
from paysource.application.settlements import SettlementService, WaitingItems
from paysource.config import Settings
from paysource.domain.schedule import DailySchedule
from paysource.processes.audit_log import AUDIT_NAME, AuditFollower, AuditLog
from paysource.processes.disputes import DisputeExpiry, DisputeNoticeProcessor, PastDue
from paysource.processes.expiry import HoldExpiry
from paysource.processes.notifier import PaymentNotifier
from paysource.processes.payouts import PayoutProcessor, PayoutRetry
from paysource.processes.pipeline import PaymentProcessor, RetryPolicy
from paysource.processes.relay import RELAY_NAME, EventRelay, RelayFollower
from paysource.processes.settlement_schedule import SettlementScheduler
from paysource.processes.webhook_delivery import DeliveryWorker
from paysource.readmodels.payments.queries import PaymentsQueries

log = logging.getLogger(__name__)

Run = Callable[[threading.Event], None]


class Group(StrEnum):
    """Which switch of `paysource worker` a job belongs to (`--no-processor`...)."""

    PROCESSOR = "processor"
    SWEEPER = "sweeper"
    PROJECTIONS = "projections"  # the notifier follows the log as projections do


@dataclass(frozen=True, slots=True)
class ProcessJob:
    name: str
    run: Run
    follower: Follower | None = None


@dataclass(frozen=True, slots=True)
class CellProcessParts:
    """What one cell's process managers are built from (the composition root fills it)."""

    store: EventStore
    payments: PaymentsQueries
    settlements: SettlementService
    waiting_items: WaitingItems
    fees: FeeLookup
    acquirer: Acquirer
    bank: BankRail
    clock: Clock
    wakeup: Wakeup
    # Starts new processor partitions where the old layout left off (see the adapter).
    seed_partitions: Callable[[list[str]], object]
    pool: ThreadPoolExecutor | None = None
    publish: Publish | None = None  # None: no notifier (subscriptions need Redis)
    listened: Listened | None = None  # None: publish on every channel
    webhook_outbox: BatchHandler | None = None
    webhook_delivery: DeliveryWorker | None = None
    audit: AuditLog | None = None
    relay: EventRelay | None = None  # None: no NATS URL set
    disputes: DisputeService | None = None  # None: no dispute jobs
    dispute_notices: DisputeNotices | None = None
    disputes_past_due: PastDue | None = None
    usd_rates: UsdRates | None = None  # None: risk limits at the built-in reference values
    # Events copied in by merchant moves: side-effect followers skip them (their acquirer
    # calls, payouts, notices and webhooks happened in the source cell). None: nothing
    # skipped.
    copied: CopiedRanges | None = None


def every(interval_s: float, task: Callable[[], object], what: str) -> Run:
    """A job that runs `task` every `interval_s` until stopped, surviving its failures."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                task()
            except Exception:
                log.exception("%s failed; retrying next interval", what)
            stop.wait(interval_s)

    return run


def follower_job(
    settings: Settings,
    parts: CellProcessParts,
    handler: BatchHandler,
    name: str,
    *,
    acts: bool = False,
) -> ProcessJob:
    """A job that follows the cell's log with `handler` (a process or a projection).
    A handler that `acts` outside the log skips events copied in by merchant moves."""
    follower = Follower(
        parts.store,
        handler,
        wakeup=parts.wakeup,
        batch_size=settings.worker_batch_size,
        poll_interval_s=settings.follower_poll_interval_s,
        linger_s=settings.follower_linger_s,
        skip_copied=parts.copied if acts else None,
    )
    return ProcessJob(name, follower.run, follower)


def pipeline_jobs(settings: Settings, parts: CellProcessParts) -> list[ProcessJob]:
    partitions = settings.worker_partitions
    retry = RetryPolicy(
        attempts=settings.acquirer_retry_attempts,
        base_delay_s=settings.acquirer_retry_base_delay_s,
    )
    names = [PaymentProcessor.partition_name(p, partitions) for p in range(partitions)]
    parts.seed_partitions(names)
    jobs = []
    for partition in range(partitions):
        processor = PaymentProcessor(
            parts.store,
            parts.acquirer,
            parts.payments,
            parts.clock,
            retry=retry,
            partition=partition,
            partitions=partitions,
            pool=parts.pool,
            fees=parts.fees,
            usd_rates=parts.usd_rates,
        )
        jobs.append(follower_job(settings, parts, processor, processor.name, acts=True))
    return jobs


def hold_expiry_jobs(settings: Settings, parts: CellProcessParts) -> list[ProcessJob]:
    expiry = HoldExpiry(parts.store, parts.payments, parts.clock, hold_ttl=settings.hold_ttl)
    run = every(settings.expiry_sweep_interval_s, expiry.sweep, "hold expiry")
    return [ProcessJob("hold-expiry", run)]


def settlement_jobs(settings: Settings, parts: CellProcessParts) -> list[ProcessJob]:
    retry = PayoutRetry(settings.payout_retry_attempts, settings.payout_retry_base_delay_s)
    payouts = PayoutProcessor(parts.store, parts.bank, parts.clock, retry=retry)
    jobs = [follower_job(settings, parts, payouts, "payouts", acts=True)]
    schedule = DailySchedule.parse(settings.settlement_schedule)
    if schedule is not None:
        scheduler = SettlementScheduler(
            parts.settlements, parts.waiting_items, parts.clock, schedule
        )
        run = every(settings.settlement_tick_s, scheduler.tick, "settlement schedule")
        jobs.append(ProcessJob("settlement-schedule", run))
    return jobs


def notifier_jobs(settings: Settings, parts: CellProcessParts) -> list[ProcessJob]:
    """Publishes payment changes for GraphQL subscriptions (any API process listens)."""
    if parts.publish is None:
        return []
    notifier = PaymentNotifier(parts.store, parts.publish, listened=parts.listened)
    return [follower_job(settings, parts, notifier, "payment-notifier", acts=True)]


def webhook_jobs(settings: Settings, parts: CellProcessParts) -> list[ProcessJob]:
    """The outbox (state changes → deliveries, exactly once) and the delivery lanes."""
    if parts.webhook_outbox is None or parts.webhook_delivery is None:
        return []
    # Skips copied events: their webhooks came with the merchant's copied queue.
    outbox = follower_job(settings, parts, parts.webhook_outbox, "webhook-outbox", acts=True)
    delivery = ProcessJob("webhook-delivery", parts.webhook_delivery.run)
    return [outbox, delivery]


def audit_jobs(settings: Settings, parts: CellProcessParts) -> list[ProcessJob]:
    """The tamper-evident log: leaves in log order, a signed head on a schedule."""
    if parts.audit is None:
        return []
    follower = AuditFollower(
        parts.store,
        parts.audit,
        wakeup=parts.wakeup,
        batch_size=settings.audit_batch_size,
        poll_interval_s=settings.follower_poll_interval_s,
        linger_s=settings.follower_linger_s,
    )
    return [ProcessJob(AUDIT_NAME, follower.run, follower)]


def relay_jobs(settings: Settings, parts: CellProcessParts) -> list[ProcessJob]:
    """The event relay to NATS JetStream: indexed events, in log order, once each."""
    if parts.relay is None:
        return []
    follower = RelayFollower(
        parts.store,
        parts.relay,
        wakeup=parts.wakeup,
        poll_interval_s=settings.follower_poll_interval_s,
    )
    return [ProcessJob(RELAY_NAME, follower.run, follower)]


def dispute_jobs(settings: Settings, parts: CellProcessParts) -> list[ProcessJob]:
    """Chargeback notices after each capture, and disputes' due dates."""
    jobs = []
    if parts.dispute_notices is not None:
        notices = DisputeNoticeProcessor(parts.store, parts.dispute_notices, parts.clock)
        jobs.append(follower_job(settings, parts, notices, notices.name, acts=True))
    if parts.disputes is not None and parts.disputes_past_due is not None:
        expiry = DisputeExpiry(parts.disputes, parts.disputes_past_due, parts.clock)
        run = every(settings.expiry_sweep_interval_s, expiry.sweep, "dispute expiry")
        jobs.append(ProcessJob("dispute-expiry", run))
    return jobs


Build = Callable[[Settings, CellProcessParts], list[ProcessJob]]

# Every process manager and its group, in the order the worker takes their leases.
PROCESSES: tuple[tuple[Group, Build], ...] = (
    (Group.PROCESSOR, pipeline_jobs),
    (Group.SWEEPER, hold_expiry_jobs),
    (Group.PROCESSOR, settlement_jobs),
    (Group.PROJECTIONS, notifier_jobs),
    (Group.PROCESSOR, webhook_jobs),
    (Group.PROJECTIONS, audit_jobs),  # follows the log as projections do
    (Group.PROJECTIONS, relay_jobs),  # follows the events read model
    (Group.PROCESSOR, dispute_jobs),
)


def process_jobs(
    settings: Settings, parts: CellProcessParts, *, groups: frozenset[Group]
) -> list[ProcessJob]:
    """The jobs of every process manager of one cell that belongs to `groups`."""
    return [job for group, build in PROCESSES if group in groups for job in build(settings, parts)]
