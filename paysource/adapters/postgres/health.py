"""One health state per connection pool, and the API's outage gate over them.

A pool is `up`, `suspect` or `down`, with hysteresis both ways, so that one broken
connection after a restart does not close the gate again (the flapping issue 12 saw):

- up → suspect: a request met a database error. Requests still pass; a probe connects
  at once, outside the pool.
- suspect → down: the probe cannot connect either. Only then does the gate refuse
  requests, and the probe tries again every `probe_interval_s`.
- suspect/down → up: the probe connected, *and* the pool's idle connections were
  validated (broken ones replaced at once), so the next checkout finds a live one.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from typing import Any

import psycopg
import psycopg_pool

log = logging.getLogger(__name__)


class State(enum.Enum):
    UP = "up"
    SUSPECT = "suspect"
    DOWN = "down"


class PoolHealth:
    def __init__(
        self,
        name: str,
        conninfo: str,
        pool: psycopg_pool.ConnectionPool[Any] | None,
        *,
        probe_interval_s: float = 0.2,
    ) -> None:
        self.name = name
        self._conninfo = conninfo
        self._pool = pool
        self._interval = probe_interval_s
        self._lock = threading.Lock()
        self.state = State.UP
        self.recoveries = 0

    def report(self) -> None:
        with self._lock:
            if self.state is not State.UP:
                return  # a probe is already running
            self.state = State.SUSPECT
        threading.Thread(target=self._probe, name=f"probe-{self.name}", daemon=True).start()

    def _probe(self) -> None:
        while not self._reachable():
            if self.state is not State.DOWN:
                self.state = State.DOWN
                log.warning("database unreachable (%s pool): refusing requests", self.name)
            time.sleep(self._interval)
        self._validate_pool()
        with self._lock:
            was_down, self.state = self.state is State.DOWN, State.UP
            self.recoveries += 1
        if was_down:
            log.warning("database reachable again (%s pool): serving requests", self.name)

    def _reachable(self) -> bool:
        try:
            with psycopg.connect(self._conninfo, connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _validate_pool(self) -> None:
        # After an outage every idle connection is dead; check() replaces each broken
        # one at once, instead of a request meeting it (psycopg_pool then backs off 1 s).
        pool = self._pool
        if pool is not None and not pool.closed:
            pool.check()


class OutageGate:
    """Fails requests fast while a pool the API uses is known down.

    Request handlers `report()` database errors; the gate passes them to every pool's
    health (the pools share one cluster) and is `down` while any of them is.
    """

    def __init__(self, database_url: str, *, probe_interval_s: float = 0.2) -> None:
        self._url = database_url
        self._interval = probe_interval_s
        self._healths: list[PoolHealth] = []

    def watch(self, name: str, pool: psycopg_pool.ConnectionPool[Any] | None = None) -> None:
        self._healths.append(PoolHealth(name, self._url, pool, probe_interval_s=self._interval))

    @property
    def down(self) -> bool:
        return any(health.state is State.DOWN for health in self._healths)

    @property
    def recoveries(self) -> int:
        """Grows on every recovery: pools the gate cannot reach (async ones) compare it
        with the value they last saw and validate their idle connections when it moved."""
        return sum(health.recoveries for health in self._healths)

    def report(self) -> None:
        if not self._healths:
            self.watch("database")
        for health in self._healths:
            health.report()
