"""Redis as a best-effort fast path: never the source of truth, never a reason to fail.

Every call fails soft: after a few consecutive Redis errors the breaker opens for a
cool-down, during which calls return their default at once instead of waiting on
timeouts. One slow answer on a saturated machine does not open it. Callers fall back
to Postgres, which alone decides what happened to money.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

T = TypeVar("T")


class RedisCache:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.5,
        cooldown_s: float = 2.0,
        failures_to_open: int = 3,
    ) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            max_connections=64,
        )
        self._cooldown_s = cooldown_s
        self._failures_to_open = failures_to_open
        self._failures = 0
        self._down_until = 0.0
        self._lock = threading.Lock()
        # Last known health, for metrics and readiness: False from a failed ping or an
        # open breaker until Redis answers again.
        self.healthy = True

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _call(self, operation: Callable[[redis.Redis], T], default: T) -> T:
        if not self.available:
            return default
        try:
            result = operation(self._client)
        except (redis.RedisError, OSError) as error:
            self._failed(error)
            return default
        self._failures = 0
        self.healthy = True
        return result

    def _failed(self, error: Exception) -> None:
        with self._lock:
            self._failures += 1
            if self._failures < self._failures_to_open or not self.available:
                return
            log.warning(
                "redis unavailable, falling back to postgres for %.0fs: %s",
                self._cooldown_s,
                error,
            )
            self._down_until = time.monotonic() + self._cooldown_s
            self.healthy = False

    def ping(self) -> bool:
        """Ask Redis even while the breaker is open (health checks)."""
        self.healthy = self.ping_reason() is None
        return self.healthy

    def ping_reason(self) -> str | None:
        """None when Redis answers PING, else the error's text (for a warning)."""
        try:
            self._client.ping()
        except (redis.RedisError, OSError) as error:
            self.healthy = False
            return str(error).splitlines()[0] if str(error) else type(error).__name__
        self.healthy = True
        return None

    def get(self, key: str) -> bytes | None:
        value = self._call(lambda client: client.get(key), None)
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, *, ttl_s: int) -> None:
        self._call(lambda client: client.set(key, value, ex=ttl_s), None)

    def add(self, key: str, value: bytes, *, ttl_s: int) -> bool | None:
        """SET NX: True if set, False if the key exists, None if Redis is unavailable."""
        result: object = self._call(
            lambda client: bool(client.set(key, value, ex=ttl_s, nx=True)), None
        )
        return None if result is None else bool(result)

    def delete(self, key: str) -> None:
        self._call(lambda client: client.delete(key), None)

    def publish(self, channel: str, message: bytes) -> None:
        self._call(lambda client: client.publish(channel, message), None)

    def hit(self, key: str, *, window_s: int) -> int | None:
        """Count one hit in a fixed window; None when Redis is unavailable."""

        def count(client: redis.Redis) -> int:
            pipe = client.pipeline()
            pipe.incr(key)
            pipe.expire(key, window_s, nx=True)
            return int(pipe.execute()[0])

        return self._call(count, None)

    def add_counting(
        self, key: str, value: bytes, *, ttl_s: int, counters: Sequence[str], window_s: int
    ) -> tuple[bool | None, list[int | None]]:
        """`add`, and a hit in each fixed window of `counters`, in one round trip (a
        command's idempotency claim and its rate limit). Unavailable: (None, [None…])."""

        def both(client: redis.Redis) -> tuple[bool | None, list[int | None]]:
            pipe = client.pipeline(transaction=False)
            for counter in counters:
                pipe.incr(counter)
                pipe.expire(counter, window_s, nx=True)
            pipe.set(key, value, ex=ttl_s, nx=True)
            answers = pipe.execute()
            counts: list[int | None] = [int(n) for n in answers[0:-1:2]]
            return bool(answers[-1]), counts

        unknown: tuple[bool | None, list[int | None]] = (None, [None] * len(counters))
        return self._call(both, unknown)

    def close(self) -> None:
        self._client.close()
