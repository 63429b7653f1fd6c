"""Claims from one event loop's concurrent requests, sent to Redis in one pipeline.

Each request's idempotency claim (with its rate windows) is one `EVALSHA` of
`cache.CLAIM_COUNTING`. Alone, each paid redis-py's whole round trip: a connection from
the pool, a write, a read, the reply's parse, the loop's wake-up (the claim was ~18% of
an API process's CPU). Requests that reach their claim in one turn of the loop now
share one: they queue their calls, and at the next turn one task sends them all as one
pipeline and hands each its reply. Nothing waits for a batch to fill: a request alone
goes alone, one loop turn later. A batch holds one turn's claims, so it is bounded by
the requests in flight (the server's concurrency limit).

Each script runs atomically on its own in Redis, as before; the batch is not a
transaction. A connection error reaches every caller of its batch; a script Redis
forgot (a restart, `SCRIPT FLUSH`) is loaded and its calls sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

Call = tuple[Sequence[str], Sequence[Any]]  # (keys, args)


class ClaimBatches:
    def __init__(self, client: aioredis.Redis, script: str, sha: str) -> None:
        self._client, self._script, self._sha = client, script, sha
        self._waiting: list[tuple[Call, asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append(((keys, args), future))
        if len(self._waiting) == 1:  # the first of this turn: send them all next turn
            loop.call_soon(self._flush)
        try:
            return await future
        except asyncio.CancelledError:
            future.cancel()  # gave up (its timeout): its answer, when it comes, is dropped
            raise

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        # A task of its own: no caller's timeout cuts the batch short for the others.
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Call, asyncio.Future[Any]]]) -> None:
        try:
            answers = await self._pipeline([call for call, _ in batch])
        except Exception as error:  # noqa: BLE001  # every caller of the batch gets it
            answers = [error] * len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue  # its caller gave up (timeout): nobody to hand it to
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _pipeline(self, calls: list[Call]) -> list[Any]:
        answers = await self._evalsha(calls)
        forgotten = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if forgotten:
            self._sha = await self._client.script_load(self._script)
            again = await self._evalsha([calls[i] for i in forgotten])
            for i, answer in zip(forgotten, again, strict=True):
                answers[i] = answer
        return answers

    async def _evalsha(self, calls: list[Call]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.execute_command("EVALSHA", self._sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))
