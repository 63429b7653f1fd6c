"""A Redis that stops answering is logged while it lasts, not once.

Nothing fails without Redis (rate limits turn off, idempotency takes the Postgres path),
so a warning is the only sign of it: one at start would scroll away. The watch pings on
an interval, warns at every failed check and says when Redis is back; `cache.healthy`
holds the answer for readiness and metrics.
"""

from __future__ import annotations

import logging
import threading

from paysource.adapters.redis.cache import RedisCache

log = logging.getLogger("paysource.redis")
CHECK_INTERVAL_S = 30.0


class RedisWatch:
    def __init__(
        self, cache: RedisCache, masked_url: str, *, interval_s: float = CHECK_INTERVAL_S
    ) -> None:
        self._cache = cache
        self._url = masked_url
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def check(self) -> None:
        was_healthy = self._cache.healthy
        reason = self._cache.ping_reason()
        if reason is not None:
            log.warning(
                "redis %s does not answer (%s): rate limits are off and retried requests"
                " take the slower Postgres path until it does",
                self._url,
                reason,
            )
        elif not was_healthy:
            log.info("redis %s answers again", self._url)

    def _run(self) -> None:
        # The first check waits an interval: the command checked once already at start.
        while not self._stop.wait(self._interval_s):
            self.check()
