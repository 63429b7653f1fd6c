"""Redis as a best-effort fast path: never the source of truth, never a reason to fail.

Every call fails soft: after a few consecutive Redis errors the breaker opens for a
cool-down, during which calls return their default at once instead of waiting on
timeouts. One slow answer on a saturated machine does not open it. Callers fall back
to Postgres, which alone decides what happened to money.

The `*_async` calls are the same calls for code on an event loop, through redis.asyncio:
nothing waits on a thread, and a hung Redis holds up only the requests asking it (a
sync call from the loop would stop every request of the process for its timeout). On
the payment path they cost less CPU than the sync client from a thread (bench/README.md,
"The floor"). Both share the breaker.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from paysource.adapters.redis.claims import ClaimBatches

log = logging.getLogger(__name__)

T = TypeVar("T")

# A command's claim and its rate windows as one script rather than a pipeline of INCR,
# EXPIRE and SET: one command for redis-py to pack and one reply to parse. Client CPU
# per claim with two windows, 16 calls in flight: ~85 µs against ~135 (bench/README.md).
# KEYS: the windows' counters, then the claim. ARGV: the claim's value, its TTL, the
# windows' length. Answers each window's count, then 1 if the claim was taken, else 0.
CLAIM_COUNTING = """
local windows = #KEYS - 1
local answer = {}
for i = 1, windows do
  answer[i] = redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[3], 'NX')
end
answer[windows + 1] = redis.call('SET', KEYS[windows + 1], ARGV[1], 'EX', ARGV[2], 'NX') and 1 or 0
return answer
"""
CLAIM_COUNTING_SHA = hashlib.sha1(CLAIM_COUNTING.encode()).hexdigest()  # noqa: S324  # Redis's name for it


class RedisCache:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.5,
        cooldown_s: float = 2.0,
        failures_to_open: int = 3,
    ) -> None:
        self._url, self._timeout_s = url, timeout_s
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            max_connections=64,
        )
        self._claim_counting = self._client.register_script(CLAIM_COUNTING)
        # redis.asyncio's connections belong to the loop that opened them: a client per
        # loop (one per API process; tests start several), made on first use.
        self._loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
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

    async def _call_async(self, operation: Callable[[_LoopClient], Awaitable[T]], default: T) -> T:
        if not self.available:
            return default
        try:
            # The whole call, a wait for a free connection included, within the
            # timeout: a call from a thread never took longer.
            async with asyncio.timeout(self._timeout_s):
                result = await operation(self._loop_client())
        except (redis.RedisError, OSError, TimeoutError) as error:
            self._failed(error)
            return default
        self._failures = 0
        self.healthy = True
        return result

    def _loop_client(self) -> _LoopClient:
        loop = asyncio.get_running_loop()
        client = self._loop_clients.get(loop)
        if client is None:
            # Blocking: past 64 calls in flight a call waits for a connection (within
            # its timeout) rather than failing at once; the loop has no thread pool
            # capping the requests in flight, as a call from a thread had.
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
                retry=AsyncRetry(NoBackoff(), 0),
                max_connections=64,
                timeout=self._timeout_s,
            )
            redis_client = aioredis.Redis(connection_pool=pool)
            client = self._loop_clients[loop] = _LoopClient(
                redis_client, ClaimBatches(redis_client, CLAIM_COUNTING, CLAIM_COUNTING_SHA)
            )
        return client

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
            answers = self._claim_counting(
                keys=[*counters, key], args=[value, ttl_s, window_s], client=client
            )
            return _claimed_counts(answers)

        unknown: tuple[bool | None, list[int | None]] = (None, [None] * len(counters))
        return self._call(both, unknown)

    async def add_counting_async(
        self, key: str, value: bytes, *, ttl_s: int, counters: Sequence[str], window_s: int
    ) -> tuple[bool | None, list[int | None]]:
        """`add_counting` from an event loop."""

        async def both(client: _LoopClient) -> tuple[bool | None, list[int | None]]:
            answers = await client.claim_counting(
                keys=[*counters, key], args=[value, ttl_s, window_s]
            )
            return _claimed_counts(answers)

        unknown: tuple[bool | None, list[int | None]] = (None, [None] * len(counters))
        return await self._call_async(both, unknown)

    async def get_async(self, key: str) -> bytes | None:
        value = await self._call_async(lambda client: client.redis.get(key), None)
        return value if isinstance(value, bytes) else None

    async def set_async(self, key: str, value: bytes, *, ttl_s: int) -> None:
        await self._call_async(lambda client: client.redis.set(key, value, ex=ttl_s), None)

    async def delete_async(self, key: str) -> None:
        await self._call_async(lambda client: client.redis.delete(key), None)

    def close(self) -> None:
        self._client.close()

    async def close_async(self) -> None:
        """Close the running loop's client, if it made one (before the loop ends)."""
        client = self._loop_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.redis.aclose(close_connection_pool=True)


class _LoopClient(NamedTuple):
    """A loop's client, and its claims' batches (claims.py)."""

    redis: aioredis.Redis
    claim_counting: ClaimBatches


def _claimed_counts(answers: Sequence[Any]) -> tuple[bool | None, list[int | None]]:
    """CLAIM_COUNTING's answer: (claim taken, each window's count)."""
    counts: list[int | None] = [int(n) for n in answers[:-1]]
    return bool(answers[-1]), counts
