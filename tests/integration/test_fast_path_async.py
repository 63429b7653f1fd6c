"""FastPath.answer_async: one round trip to Redis (the claim holds the request's hash),
no answer kept; a retry is answered by what Postgres recorded (`recorded`), 409 while
nothing is, 422 for another body; a refused or failed command frees the key."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable

import pytest
import redis

from devtools.localservices import LocalRedis
from paysource.adapters.redis.cache import RedisCache
from paysource.application.errors import IdempotencyKeyReused, RequestInFlight
from paysource.application.fastpath import Answer, FastPath


class Recorded:
    """Postgres's part, as the test sees it: the answers the commands recorded."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}

    def of(self, request_hash: str) -> Callable[[], Awaitable[Answer | None]]:
        async def recorded() -> Answer | None:
            answer = self.answers.get(request_hash)
            return None if answer is None else Answer(answer.status, answer.body, replayed=True)

        return recorded


@pytest.fixture
def fast(redis_server: LocalRedis) -> FastPath:
    return FastPath(RedisCache(redis_server.url), ttl_s=60, lock_ttl_s=30)


def call(
    fast: FastPath,
    postgres: Recorded,
    key: str,
    request_hash: str,
    command: Callable[[], Awaitable[Answer]],
) -> Awaitable[Answer]:
    return fast.answer_async(
        scope="m",
        key=key,
        request_hash=request_hash,
        command=command,
        recorded=postgres.of(request_hash),
    )


def test_the_first_answer_is_kept_by_postgres_only_and_a_retry_gets_it(
    fast: FastPath, redis_server: LocalRedis
) -> None:
    postgres, key, ran = Recorded(), uuid.uuid4().hex, []

    async def command() -> Answer:
        ran.append(1)
        postgres.answers["h"] = Answer(202, {"id": "pay_1"})
        return postgres.answers["h"]

    async def run() -> tuple[Answer, Answer]:
        return await call(fast, postgres, key, "h", command), await call(
            fast, postgres, key, "h", command
        )

    first, again = asyncio.run(run())

    assert (first.status, first.body, first.replayed) == (202, {"id": "pay_1"}, False)
    assert (again.status, again.body, again.replayed) == (202, {"id": "pay_1"}, True)
    assert ran == [1]
    with redis.Redis.from_url(redis_server.url) as client:
        kept = [client.get(slot) for slot in client.scan_iter("idem:m:*")]
    assert kept == [b'{"hash": "h"}']  # the claim, and no answer


def test_a_retry_while_the_first_runs_gets_409_and_another_body_422(fast: FastPath) -> None:
    postgres, key = Recorded(), uuid.uuid4().hex
    seen: list[type[Exception]] = []

    async def never() -> Answer:
        raise AssertionError("a retry must not run the command")

    async def command() -> Answer:
        for request_hash in ("h", "other"):
            with pytest.raises((RequestInFlight, IdempotencyKeyReused)) as raised:
                await call(fast, postgres, key, request_hash, never)
            seen.append(raised.type)
        return Answer(202, {"id": "pay_1"})

    asyncio.run(call(fast, postgres, key, "h", command))

    assert seen == [RequestInFlight, IdempotencyKeyReused]


@pytest.mark.parametrize("outcome", ["refused", "raised"])
def test_a_refused_or_failed_command_frees_the_key(fast: FastPath, outcome: str) -> None:
    postgres, key, ran = Recorded(), uuid.uuid4().hex, []

    async def first() -> Answer:
        ran.append("first")
        if outcome == "raised":
            raise RuntimeError("database away")
        return Answer(422, {"type": "invalid"})

    async def second() -> Answer:
        ran.append("second")
        return Answer(202, {"id": "pay_1"})

    async def run() -> Answer:
        with contextlib.suppress(RuntimeError):
            await call(fast, postgres, key, "h", first)
        return await call(fast, postgres, key, "other", second)

    answer = asyncio.run(run())

    assert ran == ["first", "second"]
    assert answer.status == 202
