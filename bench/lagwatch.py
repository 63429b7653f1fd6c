"""Projection lag, sampled on a timer while something else runs.

Each sample is `maintenance.status()`, as `paysource projections status` and
`GET /metrics` report it: per projection, the events it follows that it has not
applied yet, and the age of the oldest of them. Sampling runs in the bench's own
process, not through `GET /metrics`, which would spend the API's CPU (and its GIL,
shared with the embedded worker) on it; its queries cost Postgres a little: two short
ones per projection and sample.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eventsourcing.postgres import PostgresDatastore

from paysource.application.eventlog import EventStore
from paysource.processes.pipeline import payment_topics
from paysource.readmodels import maintenance


@dataclass
class Samples:
    """Per projection: lag in seconds and in events, one value per sample."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    events: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    pipeline_s: list[float] = field(default_factory=list)
    sample_ms: list[float] = field(default_factory=list)

    def worst_seconds(self) -> list[float]:
        """Per sample, the lag of the read model furthest behind: how stale the
        stalest read model was."""
        return [max(lags) for lags in zip(*self.seconds.values(), strict=True)]

    def worst_events(self) -> list[float]:
        return [float(max(lags)) for lags in zip(*self.events.values(), strict=True)]


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1..99), inclusive method; 0 without samples."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class LagSampler:
    """Samples every `interval_s` on a thread, from `start()` until `stop()`."""

    def __init__(
        self,
        store: EventStore,
        datastore: PostgresDatastore,
        *,
        pipeline: Sequence[str] = (),
        interval_s: float = 0.2,
    ) -> None:
        self._store = store
        self._pipeline = pipeline
        self._datastore = datastore
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-sampler", daemon=True)
        self.samples = Samples()
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Samples:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error is not None:
            raise RuntimeError(f"lag sampling failed: {self.error}") from self.error
        return self.samples

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                self.sample_once()
                self._stop.wait(max(0.0, self._interval_s - (time.monotonic() - began)))
        except Exception as error:  # noqa: BLE001  # reported by stop(), in the main thread
            self.error = error

    def sample_once(self) -> list[maintenance.Status]:
        began = time.monotonic()
        statuses = maintenance.status(self._store, self._datastore)
        self.samples.sample_ms.append(1000 * (time.monotonic() - began))
        for status in statuses:
            self.samples.seconds[status.name].append(status.lag_seconds)
            self.samples.events[status.name].append(status.lag_events)
        if self._pipeline:
            self.samples.pipeline_s.append(pipeline_lag_s(self._store, self._pipeline))
        return statuses


def pipeline_lag_s(store: EventStore, followers: Sequence[str]) -> float:
    """The age of the oldest event the slowest processor partition has yet to take:
    the lag of the pipeline (risk, authorization, capture) that writes what the read
    models then follow, measured as `status()` measures theirs."""
    position = min(store.position(name) for name in followers)
    oldest = store.select(after=position, limit=1, topics=payment_topics())
    if not oldest:
        return 0.0
    timestamp: datetime = oldest[0][1].timestamp  # type: ignore[attr-defined]
    return max(0.0, (datetime.now(UTC) - timestamp).total_seconds())


def wait_caught_up(
    store: EventStore, datastore: PostgresDatastore, *, timeout_s: float, quiet_s: float = 1.0
) -> float | None:
    """Seconds until every projection had applied everything, in a log that then stayed
    still for `quiet_s` (the pipeline may go on writing after the load ends); None if
    that does not happen within `timeout_s`."""
    began = time.monotonic()
    last_head, caught_at = -1, None
    while time.monotonic() - began < timeout_s:
        statuses = maintenance.status(store, datastore)
        now = time.monotonic()
        head = statuses[0].head if statuses else 0
        if head != last_head or any(s.lag_events for s in statuses):
            last_head, caught_at = head, None
        elif caught_at is None:
            caught_at = now
        elif now - caught_at >= quiet_s:
            return caught_at - began
        time.sleep(0.1)
    return None
