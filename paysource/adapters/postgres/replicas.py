"""Hot-standby reads: which database a list or a report reads from.

A replica is *fresh* when everything the primary had committed `max_lag_s` ago has been
replayed on it. That is measured with WAL positions, not with
`pg_last_xact_replay_timestamp()` (which goes stale on an idle primary): a sampler
thread notes the primary's `pg_current_wal_lsn()` every `interval_s`, and the replica
is fresh when its `pg_last_wal_replay_lsn()` has reached the primary's position of
`max_lag_s` ago. So a list from a fresh replica misses at most the last `max_lag_s` of
writes, never more; a replica that lags further, is paused or is down is not used
until it catches up. The sampler starts on the first list read, so processes that
never list (workers) never start it.

Single-object reads stay on the primary (read-your-writes: an object just written is
always there); only lists and reports, which a client cannot tie to its last write,
read from a replica.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 0.1


def lsn_value(text: str) -> int:
    """A pg_lsn ('16/B374D848') as a number, for comparing."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


class ReplicaLag:
    """Whether one replica is within `max_lag_s` of its primary (see the module)."""

    def __init__(
        self,
        primary_url: str,
        replica_url: str,
        *,
        max_lag_s: float,
        interval_s: float = SAMPLE_INTERVAL_S,
    ) -> None:
        self.primary_url = primary_url
        self.replica_url = replica_url
        self.max_lag_s = max_lag_s
        self.interval_s = interval_s
        self._fresh = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, primary lsn)
        self._sampled_at = 0.0

    def fresh(self) -> bool:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="replica-lag", daemon=True)
                self._thread.start()
        # A sampler that stopped answering (either database down) says nothing fresh.
        recent = time.monotonic() - self._sampled_at < max(1.0, self.interval_s * 10)
        return self._fresh and recent

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample_until_stopped()
            except psycopg.Error as error:
                self._fresh = False
                log.warning("replica lag: cannot sample (%s); reading from the primary", error)
                self._stop.wait(1.0)

    def _sample_until_stopped(self) -> None:
        with (
            psycopg.connect(self.primary_url, autocommit=True, connect_timeout=2) as primary,
            psycopg.connect(self.replica_url, autocommit=True, connect_timeout=2) as replica,
        ):
            while not self._stop.is_set():
                self._sample(primary, replica)
                self._stop.wait(self.interval_s)

    def _sample(
        self,
        primary: psycopg.Connection[tuple[Any, ...]],
        replica: psycopg.Connection[tuple[Any, ...]],
    ) -> None:
        now = time.monotonic()
        written = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        replayed = replica.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
        assert written is not None
        assert replayed is not None
        self._samples.append((now, lsn_value(str(written[0]))))
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.max_lag_s:
            self._samples.popleft()  # keep the newest sample that is at least max_lag old
        # The newest position at least max_lag old; until there is one, the first
        # (stricter than the bound, never looser).
        reference = self._samples[0][1]
        was, self._fresh = (
            self._fresh,
            replayed[0] is not None and lsn_value(str(replayed[0])) >= reference,
        )
        self._sampled_at = now
        if was != self._fresh:
            log.info("replica %s", "fresh: lists read from it" if self._fresh else "lagging")


class ReplicaRoute:
    """The datastore a list reads from: the first fresh replica, else the primary."""

    def __init__(
        self,
        primary: PostgresDatastore,
        replicas: Sequence[tuple[PostgresDatastore, ReplicaLag]],
    ) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.reads = {"replica": 0, "primary": 0}  # what lists were served from

    def for_lists(self) -> PostgresDatastore:
        for replica, lag in self.replicas:
            if lag.fresh():
                self.reads["replica"] += 1
                return replica
        self.reads["primary"] += 1
        return self.primary

    def fresh_replica_url(self) -> str | None:
        """For the async (GraphQL) pools: the URL of a fresh replica, if any."""
        for _, lag in self.replicas:
            if lag.fresh():
                self.reads["replica"] += 1
                return lag.replica_url
        self.reads["primary"] += 1
        return None

    def close(self) -> None:
        for replica, lag in self.replicas:
            lag.stop()
            replica.close()
