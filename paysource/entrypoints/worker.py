"""The worker: runs the log followers of every cell, each job in one process at a time.

Jobs are the processor's partitions, the projections and the hold sweeper. Any
number of worker processes may run: each job is leased through a Postgres advisory
lock, so exactly one process runs it, and when that process dies its jobs move to
another within a lease interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from paysource.adapters.postgres.datastore import Leases, NotificationListener, seed_partitions
from paysource.application.eventlog import BatchHandler, Follower
from paysource.bootstrap import Cell, Container
from paysource.domain.schedule import DailySchedule
from paysource.processes.expiry import HoldExpiry
from paysource.processes.notifier import PaymentNotifier
from paysource.processes.payouts import PayoutProcessor, PayoutRetry
from paysource.processes.pipeline import PaymentProcessor, RetryPolicy
from paysource.processes.settlement_schedule import SettlementScheduler
from paysource.readmodels.view import ProjectionHandler

log = logging.getLogger(__name__)

LEASE_INTERVAL_S = 2.0


def _every(
    interval_s: float, task: Callable[[], object], what: str
) -> Callable[[threading.Event], None]:
    """A job that runs `task` every `interval_s` until stopped, surviving its failures."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                task()
            except Exception:
                log.exception("%s failed; retrying next interval", what)
            stop.wait(interval_s)

    return run


@dataclass
class Job:
    name: str
    run: Callable[[threading.Event], None]
    follower: Follower | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class Worker:
    def __init__(
        self,
        container: Container,
        *,
        processor: bool = True,
        projections: bool = True,
        sweeper: bool = True,
    ) -> None:
        self._container = container
        self._settings = container.settings
        self._pool = ThreadPoolExecutor(self._settings.worker_threads, "acquirer-call")
        self._stop = threading.Event()
        self._listeners: list[NotificationListener] = []
        self._leases: list[tuple[Leases, list[Job]]] = []
        for cell in container.router.all():
            jobs: list[Job] = []
            if processor:
                jobs += self._processor_jobs(cell)
            if projections:
                jobs += self._projection_jobs(cell)
            if sweeper:
                jobs.append(self._sweeper_job(cell))
            if processor:
                jobs += self._settlement_jobs(cell)
            if projections and self._settings.redis_url:
                jobs.append(self._notifier_job(cell, self._settings.redis_url))
            if processor:
                jobs += self._webhook_jobs(cell)
            self._leases.append((Leases(cell.database_url), jobs))
        self._thread = threading.Thread(target=self._lease_loop, name="worker-leases", daemon=True)

    # Jobs ---------------------------------------------------------------------------

    def _follower(self, cell: Cell, handler: BatchHandler) -> Follower:
        return Follower(
            cell.store,
            handler,
            wakeup=self._container.wakeup,
            batch_size=self._settings.worker_batch_size,
            poll_interval_s=self._settings.follower_poll_interval_s,
        )

    def _processor_jobs(self, cell: Cell) -> list[Job]:
        partitions = self._settings.worker_partitions
        retry = RetryPolicy(
            attempts=self._settings.acquirer_retry_attempts,
            base_delay_s=self._settings.acquirer_retry_base_delay_s,
        )
        names = [PaymentProcessor.partition_name(p, partitions) for p in range(partitions)]
        seed_partitions(cell.database_url, prefix="processor-", names=names)
        jobs = []
        for partition in range(partitions):
            processor = PaymentProcessor(
                cell.store,
                self._container.acquirer,
                cell.read.payments,
                self._container.clock,
                retry=retry,
                partition=partition,
                partitions=partitions,
                pool=self._pool,
                fees=cell.fees,
            )
            follower = self._follower(cell, processor)
            jobs.append(Job(f"{cell.name}/{processor.name}", follower.run, follower))
        return jobs

    def _projection_jobs(self, cell: Cell) -> list[Job]:
        jobs = []
        for projection in cell.read.projections():
            follower = self._follower(cell, ProjectionHandler(projection))
            jobs.append(Job(f"{cell.name}/projection-{projection.name}", follower.run, follower))
        return jobs

    def _sweeper_job(self, cell: Cell) -> Job:
        expiry = HoldExpiry(
            cell.store,
            cell.read.payments,
            self._container.clock,
            hold_ttl=self._settings.hold_ttl,
        )
        interval = self._settings.expiry_sweep_interval_s
        return Job(f"{cell.name}/hold-expiry", _every(interval, expiry.sweep, "hold expiry"))

    def _settlement_jobs(self, cell: Cell) -> list[Job]:
        payouts = PayoutProcessor(
            cell.store,
            self._container.bank,
            self._container.clock,
            retry=PayoutRetry(
                self._settings.payout_retry_attempts, self._settings.payout_retry_base_delay_s
            ),
        )
        follower = self._follower(cell, payouts)
        jobs = [Job(f"{cell.name}/payouts", follower.run, follower)]
        schedule = DailySchedule.parse(self._settings.settlement_schedule)
        if schedule is not None:
            scheduler = SettlementScheduler(
                cell.settlements, cell.read.settlements, self._container.clock, schedule
            )
            jobs.append(
                Job(
                    f"{cell.name}/settlement-schedule",
                    _every(self._settings.settlement_tick_s, scheduler.tick, "settlement schedule"),
                )
            )
        return jobs

    def _webhook_jobs(self, cell: Cell) -> list[Job]:
        """The outbox (state changes → deliveries, exactly once) and the senders."""
        webhooks = self._container.webhooks
        if webhooks is None:
            return []
        outbox = self._follower(cell, webhooks.outbox(cell))
        delivery = webhooks.delivery_worker(cell)
        return [
            Job(f"{cell.name}/webhook-outbox", outbox.run, outbox),
            Job(f"{cell.name}/webhook-delivery", delivery.run),
        ]

    def _notifier_job(self, cell: Cell, redis_url: str) -> Job:
        """Publishes payment changes to Redis for GraphQL subscriptions (any API process)."""
        follower = self._follower(cell, PaymentNotifier.for_redis(cell.store, redis_url))
        return Job(f"{cell.name}/payment-notifier", follower.run, follower)

    # Running ------------------------------------------------------------------------

    def start(self) -> None:
        for cell in self._container.router.all():
            listener = NotificationListener(cell.database_url, self._container.wakeup)
            listener.start()
            self._listeners.append(listener)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for leases, jobs in self._leases:
            self._stop_jobs(jobs)
            leases.release_all()
        for listener in self._listeners:
            listener.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def jobs(self) -> list[Job]:
        return [job for _, jobs in self._leases for job in jobs]

    def _lease_loop(self) -> None:
        while not self._stop.is_set():
            for leases, jobs in self._leases:
                try:
                    self._tend(leases, jobs)
                except Exception:
                    log.exception("could not tend job leases; retrying")
            self._stop.wait(LEASE_INTERVAL_S)

    def _tend(self, leases: Leases, jobs: list[Job]) -> None:
        if not leases.healthy():
            # Our locks went with the connection: another worker may run these now.
            log.warning("lost the job leases; stopping jobs and taking leases again")
            self._stop_jobs(jobs)
            leases.release_all()
        for job in jobs:
            if not job.running and leases.try_acquire(job.name):
                self._start_job(job)

    @staticmethod
    def _start_job(job: Job) -> None:
        job.stop = threading.Event()
        job.thread = threading.Thread(target=job.run, args=(job.stop,), name=job.name, daemon=True)
        job.thread.start()
        log.info("started %s", job.name)

    @staticmethod
    def _stop_jobs(jobs: list[Job]) -> None:
        for job in jobs:
            job.stop.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout=30)
            job.thread = None
