"""The worker's figures while the payment load runs: captures, pipeline and read-side lag.

payments.py starts a `Watch` when the measured load starts and reports it when the load
stops. What it measures:

- **captured per second**: `Payment.Captured` events committed during the load (their
  notification ids lie between the log's head at the start and at the end), over the
  load's seconds: payments reaching `succeeded`, next to those accepted;
- **pipeline lag**, per payment accepted during the load: its `Captured` event's time
  minus its `Created` event's time (accepted → succeeded). Payments still uncaptured when
  the load stops are waited for (up to `DRAIN_TIMEOUT_S`), so a lagging pipeline shows
  its whole lag, not a censored one; any never captured are counted;
- **read-model lag**, sampled every `SAMPLE_S` by `lagwatch.LagSampler` (the age of the
  oldest event the furthest-behind read model has not applied);
- **audit-log lag**: events the `audit-log` job (the Merkle tree) trails the head by, at
  each sample, as `paysource jobs` shows it.

The sampling runs in the bench's process; its queries cost Postgres a little (counted
in `db_cpu_ms_per_payment`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import lagwatch
from eventsourcing.utils import get_topic

from paysource.bootstrap import Cell, build_cell, build_container
from paysource.config import Settings
from paysource.domain.payment import Payment
from paysource.entrypoints.worker import job_statuses

SAMPLE_S = 0.25
DRAIN_TIMEOUT_S = 120.0
SCAN = 5000
CREATED, CAPTURED = get_topic(Payment.Created), get_topic(Payment.Captured)
_COUNT = (
    "SELECT count(*) FROM paysource_events"
    " WHERE notification_id > %s AND notification_id <= %s AND topic = %s"
)
_AUDIT_LAG = (
    "SELECT coalesce((SELECT max(notification_id) FROM paysource_events), 0)"
    " - coalesce((SELECT max(notification_id) FROM projection_tracking"
    "  WHERE application_name = 'audit-log'), 0)"
)


class _Sampler(lagwatch.LagSampler):
    """The read models' lag (lagwatch's), and the audit log's, at each sample."""

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell.store, cell.read.datastore, interval_s=SAMPLE_S)
        self.audit_events: list[float] = []
        self._cell = cell

    def sample_once(self) -> list[object]:  # type: ignore[override]
        found = super().sample_once()
        with self._cell.read.datastore.transaction(commit=False) as curs:
            curs.execute(_AUDIT_LAG)
            row = curs.fetchone()
        self.audit_events.append(float(next(iter(row.values())) if row else 0))
        return list(found)


@dataclass
class Figures:
    captured: int = 0
    lags_s: list[float] = field(default_factory=list)
    never_captured: int = 0
    drain_s: float = 0.0


class Watch:
    """Start with the measured load, `stop()` with it, then `figures()`."""

    def __init__(self, db_url: str, redis_url: str) -> None:
        settings = Settings(
            database_url=db_url,
            redis_url=redis_url,
            db_pool_size=2,
            db_max_overflow=2,
            read_pool_size=2,
        )
        self._settings = settings
        self.cell = build_cell(settings, db_url)
        self._sampler = _Sampler(self.cell)
        self._head_start = self._head_end = 0

    def wait_for_worker(self) -> float:
        """Seconds until every read model has applied the log (the new merchant): the
        worker has taken its jobs, so the lags measured next are not its start-up."""
        waited = lagwatch.wait_caught_up(
            self.cell.store, self.cell.read.datastore, timeout_s=60.0, quiet_s=0.2
        )
        if waited is None:
            raise RuntimeError("the worker did not apply the log within 60 s")
        return waited

    def wait_for_jobs(self, *, timeout_s: float = 60.0, still_s: float = 2.0) -> float:
        """Seconds until every job is held and no job has changed hands for `still_s`:
        with several worker processes the jobs move between them for a few seconds
        after they start, and a job on the move lags meanwhile. The load is measured
        after that, as a steady state."""
        container = build_container(self._settings)
        try:
            began = time.monotonic()
            seen: dict[str, str] = {}
            since = began
            while time.monotonic() - began < timeout_s:
                now = {s.job: s.held_by for s in job_statuses(container)}
                if now != seen or "-" in now.values():
                    seen, since = now, time.monotonic()
                elif time.monotonic() - since >= still_s:
                    return time.monotonic() - began
                time.sleep(0.5)
        finally:
            container.close()
        raise RuntimeError(f"the worker processes did not settle their jobs in {timeout_s:.0f} s")

    def start(self) -> None:
        self._head_start = self.cell.store.head()
        self._sampler.start()

    def stop(self) -> tuple[lagwatch.Samples, list[float]]:
        self._head_end = self.cell.store.head()
        return self._sampler.stop(), self._sampler.audit_events

    def figures(self) -> Figures:
        """Captures during the load; then waits for the pipeline to finish the payments
        accepted during it, and measures each one's lag."""
        found = Figures(captured=self._count(CAPTURED, self._head_start, self._head_end))
        began = time.monotonic()
        created = self._created()
        captured: dict[UUID, datetime] = {}
        scanned = self._head_start
        while time.monotonic() - began < DRAIN_TIMEOUT_S:
            scanned = self._captures(scanned, captured)
            if created.keys() <= captured.keys():
                break
            time.sleep(0.5)
        found.drain_s = time.monotonic() - began
        found.lags_s = [
            (captured[pid] - at).total_seconds() for pid, at in created.items() if pid in captured
        ]
        found.never_captured = len(created.keys() - captured.keys())
        return found

    def close(self) -> None:
        self.cell.close()

    def _count(self, topic: str, after: int, upto: int) -> int:
        with self.cell.read.datastore.transaction(commit=False) as curs:
            curs.execute(_COUNT, (after, upto, topic))
            row = curs.fetchone()
        return int(next(iter(row.values()))) if row else 0

    def _created(self) -> dict[UUID, datetime]:
        events = self._scan(self._head_start, CREATED, upto=self._head_end)
        return {event.originator_id: event.timestamp for _, event in events}

    def _captures(self, after: int, into: dict[UUID, datetime]) -> int:
        events = self._scan(after, CAPTURED)
        into.update({event.originator_id: event.timestamp for _, event in events})
        return events[-1][0] if events else after

    def _scan(self, after: int, topic: str, *, upto: int | None = None) -> list[tuple[int, Any]]:
        found: list[tuple[int, Any]] = []
        while True:
            batch = self.cell.store.select(after=after, limit=SCAN, topics=[topic])
            batch = [(n, e) for n, e in batch if upto is None or n <= upto]
            found += batch
            if len(batch) < SCAN:
                return found
            after = batch[-1][0]
