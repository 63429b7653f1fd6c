"""The worker: runs the log followers of every cell, each job in one process at a time.

Its jobs are every process manager (`processes.catalog`) and every projection
(`readmodels.catalog`); this module only leases, starts and stops them. Any number of
worker processes may run: each job is leased through a Postgres advisory lock, so
exactly one process runs it. Workers share the jobs: each counts the live workers of
a cell that run the same jobs (member locks, adapters/postgres/leases.py), holds its
fair share and gives back what it holds beyond it, so a joining worker gets work
within a few lease intervals and a dead worker's jobs move to the others within one.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from paysource.adapters.postgres.datastore import NotificationListener
from paysource.adapters.postgres.leases import Leases, fair_share, holders
from paysource.application.eventlog import Follower
from paysource.bootstrap import Cell, Container, process_parts
from paysource.entrypoints.telemetry import start_tracing
from paysource.processes.catalog import (
    CellProcessParts,
    Group,
    ProcessJob,
    Run,
    follower_job,
    process_jobs,
)
from paysource.readmodels.figures import count_after
from paysource.readmodels.view import ProjectionHandler

log = logging.getLogger(__name__)

LEASE_INTERVAL_S = 2.0


@dataclass
class Job:
    """A catalog job under its lease key (`<cell>/<name>`), with its running state."""

    name: str
    run: Run
    follower: Follower | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @classmethod
    def of(cls, cell: Cell, job: ProcessJob) -> Job:
        return cls(f"{cell.name}/{job.name}", job.run, job.follower)

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
        switches = {
            Group.PROCESSOR: processor,
            Group.PROJECTIONS: projections,
            Group.SWEEPER: sweeper,
        }
        chosen = frozenset(group for group, on in switches.items() if on)
        for cell in container.router.all():
            parts = process_parts(container, cell, pool=self._pool)
            found = process_jobs(self._settings, parts, groups=chosen)
            if projections:
                found += self._projection_jobs(cell, parts)
            jobs = [Job.of(cell, job) for job in found]
            self._leases.append((Leases(cell.database_url, [j.name for j in jobs]), jobs))
        self._thread = threading.Thread(target=self._lease_loop, name="worker-leases", daemon=True)

    def _projection_jobs(self, cell: Cell, parts: CellProcessParts) -> list[ProcessJob]:
        return [
            follower_job(
                self._settings,
                parts,
                ProjectionHandler(projection),
                f"projection-{projection.name}",
            )
            for projection in cell.read.projections()
        ]

    # Running ------------------------------------------------------------------------

    def start(self) -> None:
        start_tracing(self._settings)  # exported, its spans carry each payment's trace on
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

    def close(self) -> None:
        """Release what a worker that never started holds (its thread pool)."""
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
        leases.join()
        share = fair_share(len(jobs), leases.members())
        self._give_back(leases, [job for job in jobs if job.name in leases.held][share:])
        for job in jobs:
            if len(leases.held) >= share and job.name not in leases.held:
                continue
            if leases.try_acquire(job.name) and not job.running:
                self._start_job(job)

    def _give_back(self, leases: Leases, extra: list[Job]) -> None:
        """Stop the jobs beyond our share, then free their leases: stopped first, so
        no job ever runs in two workers at once."""
        self._stop_jobs(extra)
        for job in extra:
            if job.running:  # did not stop in time: keep it (and its lease) for now
                continue
            leases.release(job.name)
            log.info("gave back %s", job.name)

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
                if not job.thread.is_alive():
                    job.thread = None  # a thread still running keeps `running` true


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job as `paysource jobs` shows it: where it runs and how far behind it is."""

    cell: str
    job: str
    held_by: str  # "<host>:<pid>", or "-" when no worker holds it
    lag_events: int | None  # events of the log after its position (followers only)


def job_statuses(container: Container) -> list[JobStatus]:
    """Every job a full worker would run, with its holder and lag, read from Postgres."""
    worker = Worker(container)
    try:
        found = []
        for cell in container.router.all():
            jobs = [job for job in worker.jobs() if job.name.startswith(f"{cell.name}/")]
            head = cell.store.head()
            where = {h.job: h.where for h in holders(cell.database_url, [j.name for j in jobs])}
            found += [
                JobStatus(cell.name, job.name, where[job.name], _lag(job, head, cell))
                for job in jobs
            ]
        return found
    finally:
        worker.close()


def _lag(job: Job, head: int, cell: Cell) -> int | None:
    """Events the job follows that it has not handled, as `projections status` counts a
    read model's: the head alone called an idle job whose events are rare behind."""
    if job.follower is None:
        return None
    handler = job.follower.handler
    position = handler.position()
    if not handler.topics:  # it follows every event
        return max(0, head - position)
    return count_after(cell.read.datastore, position, handler.topics)
