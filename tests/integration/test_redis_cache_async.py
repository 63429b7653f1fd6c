"""The cache's event-loop calls (redis.asyncio): the same answers as its sync calls, one
breaker for both, and connections that end with their loop's app."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localservices import LocalRedis
from paysource.adapters.redis.cache import RedisCache


def _connections(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return len(client.client_list()) - 1  # not this one


def test_loop_calls_answer_as_sync_calls_do_and_close_with_the_loop(
    redis_server: LocalRedis,
) -> None:
    cache = RedisCache(redis_server.url)

    async def calls() -> list[object]:
        first = await cache.add_counting_async(
            "claim", b"in-flight", ttl_s=5, counters=["window"], window_s=1
        )
        again = await cache.add_counting_async(
            "claim", b"in-flight", ttl_s=5, counters=["window"], window_s=1
        )
        await cache.set_async("claim", b"answer", ttl_s=5)
        stored = await cache.get_async("claim")
        await cache.delete_async("claim")
        gone = await cache.get_async("claim")
        open_before = _connections(redis_server.url)
        await cache.close_async()
        return [first, again, stored, gone, open_before, _connections(redis_server.url)]

    # Other tests' clients may be open on this server: count against them.
    others = _connections(redis_server.url)
    first, again, stored, gone, open_before, open_after = asyncio.run(calls())

    assert (first, again) == ((True, [1]), (False, [2]))
    assert cache.add_counting("claim", b"x", ttl_s=5, counters=["window"], window_s=1) == (
        True,
        [3],
    )
    assert (stored, gone) == (b"answer", None)
    assert open_before > others
    assert open_after <= others
    cache.close()


def test_loop_calls_fail_soft_and_open_the_breaker_the_sync_calls_share(
    redis_server: LocalRedis,
) -> None:
    cache = RedisCache(redis_server.url, cooldown_s=30.0, failures_to_open=3)
    redis_server.stop()
    try:

        async def calls() -> list[object]:
            answers: list[object] = [
                await cache.add_counting_async("k", b"v", ttl_s=5, counters=["w"], window_s=1)
                for _ in range(3)
            ]
            began = time.monotonic()
            answers.append(await cache.get_async("k"))  # open: no wait on a timeout
            answers.append(time.monotonic() - began)
            return answers

        *unknown, after_open, waited_s = asyncio.run(calls())
    finally:
        redis_server.restart()

    assert unknown == [(None, [None])] * 3
    assert after_open is None
    assert waited_s < 0.05
    assert not cache.available  # the sync calls see the same open breaker
    assert cache.get("k") is None
    cache.close()


# A command's claim with its rate windows (CLAIM_COUNTING), against a model: each window
# counts every call naming it, a claim is taken once until it is deleted, and every key
# the script writes expires (a window after its length, a claim after its TTL).
KEYS = st.sampled_from(["a", "b", "c"])
WINDOWS = st.lists(st.sampled_from(["w1", "w2", "w3"]), unique=True, max_size=3)
CALLS = st.lists(
    st.tuples(st.sampled_from(["sync", "loop", "delete"]), KEYS, WINDOWS), min_size=1, max_size=25
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=CALLS)
def test_a_claim_and_its_windows_answer_as_the_model_and_every_key_expires(
    redis_server: LocalRedis, calls: list[tuple[str, str, list[str]]]
) -> None:
    prefix = f"t{uuid.uuid4().hex}:"
    cache = RedisCache(redis_server.url)
    counts: dict[str, int] = {}
    claimed: set[str] = set()

    async def run() -> None:
        for how, key, windows in calls:
            slot, names = prefix + key, [prefix + w for w in windows]
            if how == "delete":
                await cache.delete_async(slot)
                claimed.discard(key)
                continue
            for window in windows:
                counts[window] = counts.get(window, 0) + 1
            expected = (key not in claimed, [counts[w] for w in windows])
            claimed.add(key)
            if how == "sync":
                answer = cache.add_counting(slot, b"v", ttl_s=30, counters=names, window_s=10)
            else:
                answer = await cache.add_counting_async(
                    slot, b"v", ttl_s=30, counters=names, window_s=10
                )
            assert answer == expected
        await cache.close_async()

    asyncio.run(run())
    with redis.Redis.from_url(redis_server.url) as client:
        for window, count in counts.items():
            assert 0 < client.ttl(prefix + window) <= 10
            assert int(client.get(prefix + window)) == count
        for key in claimed:
            assert 0 < client.ttl(prefix + key) <= 30
    cache.close()


def test_a_loop_call_to_a_redis_that_never_answers_gives_up_within_its_timeout() -> None:
    """The loop client has no socket timeouts of its own: the call's one timeout must
    bound a write that is taken and never answered."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts (the kernel's backlog), never reads or writes
        cache = RedisCache(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout_s=0.2)

        async def call() -> tuple[object, float]:
            began = time.monotonic()
            answer = await asyncio.wait_for(cache.get_async("k"), timeout=10)
            return answer, time.monotonic() - began

        answer, waited_s = asyncio.run(call())

    assert answer is None
    assert waited_s < 1.0
