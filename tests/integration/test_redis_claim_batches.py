"""Claims of one loop turn go to Redis in one pipeline (claims.py), each answered as if
sent alone: the real Redis, concurrent callers, a forgotten script, a caller that
gives up."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localservices import LocalRedis
from paysource.adapters.redis.cache import RedisCache

# Each caller: (its claim's key, its windows); all start in one loop turn.
CALLERS = st.lists(
    st.tuples(st.sampled_from("abcd"), st.lists(st.sampled_from("xyz"), max_size=2, unique=True)),
    min_size=1,
    max_size=24,
)


def _pipeline_sizes(cache: RedisCache) -> list[int]:
    """The size of each pipeline the running loop's claims go out in, from now on."""
    batches = cache._loop_client().claim_counting  # the batches this test watches
    sizes: list[int] = []
    send = batches._evalsha

    async def counted(calls: list[Any]) -> list[Any]:
        sizes.append(len(calls))
        return await send(calls)

    batches._evalsha = counted  # type: ignore[method-assign]
    return sizes


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(callers=CALLERS)
def test_one_turns_claims_share_a_pipeline_and_each_is_answered_as_alone(
    redis_server: LocalRedis, callers: list[tuple[str, list[str]]]
) -> None:
    prefix = f"t{uuid.uuid4().hex}:"
    cache = RedisCache(redis_server.url)

    async def run() -> tuple[list[tuple[bool | None, list[int | None]]], list[int]]:
        # Loaded first (a fresh Redis answers NOSCRIPT once), then counted.
        await cache.add_counting_async(prefix, b"v", ttl_s=30, counters=[], window_s=10)
        sizes = _pipeline_sizes(cache)
        answers = await asyncio.gather(
            *(
                cache.add_counting_async(
                    prefix + key, b"v", ttl_s=30, counters=[prefix + w for w in ws], window_s=10
                )
                for key, ws in callers
            )
        )
        await cache.close_async()
        return answers, sizes

    answers, sizes = asyncio.run(run())
    assert sizes == [len(callers)]  # one pipeline for the turn
    # Redis ran them in the callers' order: the first of each key claims it, and each
    # window counts its callers up to then.
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for (key, windows), answer in zip(callers, answers, strict=True):
        counts.update(windows)
        assert answer == (key not in seen, [counts[w] for w in windows])
        seen.add(key)
    cache.close()


def test_a_script_redis_forgot_is_loaded_again(redis_server: LocalRedis) -> None:
    cache = RedisCache(redis_server.url)
    key = f"t{uuid.uuid4().hex}"

    async def run() -> list[tuple[bool | None, list[int | None]]]:
        first = await cache.add_counting_async(key, b"v", ttl_s=5, counters=[], window_s=1)
        with redis.Redis.from_url(redis_server.url) as admin:
            admin.script_flush()
        again = await asyncio.gather(
            *(cache.add_counting_async(key, b"v", ttl_s=5, counters=[], window_s=1) for _ in "ab")
        )
        await cache.close_async()
        return [first, *again]

    assert asyncio.run(run()) == [(True, []), (False, []), (False, [])]
    cache.close()


def test_a_caller_that_gives_up_leaves_the_others_of_its_batch_answered(
    redis_server: LocalRedis,
) -> None:
    cache = RedisCache(redis_server.url)
    prefix = f"t{uuid.uuid4().hex}:"

    async def run() -> tuple[list[object], bool]:
        claims = [
            asyncio.ensure_future(
                cache.add_counting_async(prefix + k, b"v", ttl_s=5, counters=[], window_s=1)
            )
            for k in "abc"
        ]
        await asyncio.sleep(0)  # each has queued its call; the batch goes next turn
        claims[0].cancel()  # the first, whose call started the batch, gives up
        done = await asyncio.gather(*claims, return_exceptions=True)
        await cache.close_async()
        return [type(d).__name__ if isinstance(d, BaseException) else d for d in done], (
            cache.healthy
        )

    answers, healthy = asyncio.run(run())
    assert answers == ["CancelledError", (True, []), (True, [])]
    assert healthy
    cache.close()
