"""Rate limits, shared by REST and GraphQL: fixed one-second windows in Redis.

A merchant's keys, and the tokens minted from them, all count against one window per
merchant, limited to the merchant's own limit (`RateLimits`, set by an admin) or the
default: adding keys does not multiply a merchant's limit. Staff keys have a window
each. Without Redis there is no limit (fail open: Redis holds nothing we need).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from paysource.bootstrap import Container
from paysource.entrypoints.http.problems import Problem


def merchant_bucket(merchant_id: UUID) -> str:
    return f"rate:merchant:{merchant_id.hex}"


def enforce(container: Container, buckets: Sequence[str], merchant_id: UUID | None) -> None:
    """Count the request in every window of `buckets`; 429 when one is over the limit."""
    cache = container.cache
    if cache is None:
        return
    # Every window counts the request, refused or not: a client that ignores 429s
    # keeps its windows full.
    refuse_over(container, [cache.hit(bucket, window_s=1) for bucket in buckets], merchant_id)


def refuse_over(
    container: Container, counts: Sequence[int | None], merchant_id: UUID | None
) -> None:
    """429 when a window's count (None: unknown, Redis away) is over the limit."""
    limit = container.rate_limits.per_second(
        merchant_id, default=container.settings.rate_limit_per_s
    )
    refuse_over_limit(counts, limit, merchant_id)


async def refuse_over_async(
    container: Container, counts: Sequence[int | None], merchant_id: UUID
) -> None:
    """`refuse_over` from the event loop: the merchant's limit from the process's cache,
    else looked up in a thread (the directory is a database)."""
    if all(count is None for count in counts):
        return  # Redis away: nothing counted, nothing to refuse (fail open)
    default = container.settings.rate_limit_per_s
    limit = container.rate_limits.known_per_second(merchant_id, default=default)
    if limit is None:
        await run_in_threadpool(refuse_over, container, counts, merchant_id)
    else:
        refuse_over_limit(counts, limit, merchant_id)


def refuse_over_limit(counts: Sequence[int | None], limit: int, merchant_id: UUID | None) -> None:
    if any(count is not None and count > limit for count in counts):
        whose = "merchant" if merchant_id is not None else "API key"
        raise Problem(
            429, "rate_limited", f"too many requests for this {whose}; slow down", retry_after_s=1
        )
