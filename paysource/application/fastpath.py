"""The Redis fast path for idempotent requests.

Postgres alone guarantees that a key is answered once (see
paysource.application.idempotency); Redis only makes retries cheap and lets a
concurrent retry learn that the first request is still in flight (409). When Redis
is down every request takes the Postgres path: slower, equally correct.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from paysource.application.errors import IdempotencyKeyReused, RequestInFlight
from paysource.application.ports import Cache


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    # The body as JSON, when it was encoded already (for Redis): the response sends
    # these bytes instead of encoding the body a second time.
    encoded: bytes | None = field(default=None, compare=False, repr=False)


def encode_body(body: dict[str, Any]) -> bytes:
    """JSON as Starlette's JSONResponse renders it, byte for byte."""
    return json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


IN_FLIGHT = b"in-flight"


class FastPath:
    """One Redis key per (merchant, Idempotency-Key): `SET NX` marks the request in
    flight (and says whether an earlier one exists), then the answer replaces the
    marker: two round trips. `answer_async` keeps no answer: one round trip."""

    def __init__(self, cache: Cache | None, *, ttl_s: int, lock_ttl_s: int) -> None:
        self._cache = cache
        self._ttl_s = ttl_s
        self._lock_ttl_s = lock_ttl_s

    def answer(
        self,
        *,
        scope: str,
        key: str | None,
        request_hash: str,
        command: Callable[[], Answer],
        hold_s: int = 0,
        keep_body: bool = True,
        counters: Sequence[str] = (),
        admit: Callable[[Sequence[int | None]], None] | None = None,
    ) -> Answer:
        """The command's answer, or the first answer to this key. With `hold_s`, a new
        answer is not the final one (the caller waits up to `hold_s` for more and then
        `remember`s it): the key stays in flight meanwhile, so a concurrent retry gets
        409 rather than an answer the first request never gave. `keep_body=False` for
        answers holding personal data, which must never reach Redis (an erasure could
        not find it there): a retry then replays from Postgres. With `counters`, the
        claim also counts a hit in each of those windows (one round trip, not two) and
        `admit` sees their counts first: it raises to refuse (a rate limit), and the
        claim is let go."""
        if key is None or self._cache is None:
            return command()
        slot = self._slot(scope, key)
        claimed = self._claim(slot, hold_s, counters, admit)
        if claimed is False:
            return self._earlier(slot, request_hash, command)
        try:
            answer = command()
        except BaseException:
            if claimed:
                self._cache.delete(slot)  # nothing was stored: the key is free again
            raise
        if claimed and 200 <= answer.status < 300:
            if not (hold_s and not answer.replayed):
                answer = self._store(slot, request_hash, answer, keep_body=keep_body)
        elif claimed:
            self._cache.delete(slot)
        return answer

    async def answer_async(
        self,
        *,
        scope: str,
        key: str | None,
        request_hash: str,
        command: Callable[[], Awaitable[Answer]],
        recorded: Callable[[], Awaitable[Answer | None]],
        counters: Sequence[str] = (),
        admit: Callable[[Sequence[int | None]], Awaitable[None]] | None = None,
    ) -> Answer:
        """`answer` for a caller on the event loop, its command awaited, for the plain
        case: a final answer (no `hold_s`) that Postgres records with the object it
        makes. One round trip to Redis, not two: the claim holds the request's hash for
        `lock_ttl_s` and no answer is stored after the command. A retry meanwhile gets
        `recorded()`, the first answer as Postgres holds it (422 for another body), or
        409 while there is none yet; later retries claim again and the command replays
        from Postgres. Retries are rare; every first request paid for the second round
        trip (bench/README.md)."""
        if key is None or self._cache is None:
            return await command()
        slot = self._slot(scope, key)
        claimed = await self._claim_async(slot, request_hash, counters, admit)
        if claimed is False:
            return await self._earlier_async(slot, request_hash, command, recorded)
        try:
            answer = await command()
        except BaseException:
            if claimed:
                await self._cache.delete_async(slot)  # nothing was recorded: free again
            raise
        if claimed and not 200 <= answer.status < 300:
            await self._cache.delete_async(slot)
        return answer

    async def _earlier_async(
        self,
        slot: str,
        request_hash: str,
        command: Callable[[], Awaitable[Answer]],
        recorded: Callable[[], Awaitable[Answer | None]],
    ) -> Answer:
        assert self._cache is not None
        stored = _stored(await self._cache.get_async(slot))
        earlier = _earlier_answer(stored, request_hash)  # 409 or 422 when Redis says so
        if earlier is not None:
            return earlier
        if stored is None or "status" in stored:
            return await command()  # expired meanwhile, or kept out of Redis: Postgres
        answered = await recorded()
        if answered is None:
            raise RequestInFlight(IN_FLIGHT_MESSAGE)
        return answered

    async def _claim_async(
        self,
        slot: str,
        request_hash: str,
        counters: Sequence[str],
        admit: Callable[[Sequence[int | None]], Awaitable[None]] | None,
    ) -> bool | None:
        assert self._cache is not None
        claimed, counts = await self._cache.add_counting_async(
            slot, _claim(request_hash), ttl_s=self._lock_ttl_s, counters=counters, window_s=1
        )
        try:
            if admit is not None:
                await admit(counts)
        except BaseException:
            if claimed:
                await self._cache.delete_async(slot)  # refused before any work
            raise
        return claimed

    def _claim(
        self,
        slot: str,
        hold_s: int,
        counters: Sequence[str],
        admit: Callable[[Sequence[int | None]], None] | None,
    ) -> bool | None:
        assert self._cache is not None
        ttl_s = self._lock_ttl_s + hold_s
        if not counters:
            return self._cache.add(slot, IN_FLIGHT, ttl_s=ttl_s)
        claimed, counts = self._cache.add_counting(
            slot, IN_FLIGHT, ttl_s=ttl_s, counters=counters, window_s=1
        )
        try:
            if admit is not None:
                admit(counts)
        except BaseException:
            if claimed:
                self._cache.delete(slot)  # refused before any work: the key is free again
            raise
        return claimed

    def remember(self, *, scope: str, key: str, request_hash: str, answer: Answer) -> None:
        """Store the final answer of a request answered with `hold_s`."""
        if self._cache is not None:
            self._store(self._slot(scope, key), request_hash, answer)

    def _store(
        self, slot: str, request_hash: str, answer: Answer, *, keep_body: bool = True
    ) -> Answer:
        """Keep the answer for retries; the answer with its body encoded, once for both
        Redis and the response."""
        assert self._cache is not None
        stored, answer = _stored_form(request_hash, answer, keep_body=keep_body)
        self._cache.set(slot, stored, ttl_s=self._ttl_s)
        return answer

    def forget(self, *, scope: str, key: str) -> None:
        """Delete the answer to `key` (a retry then replays from Postgres)."""
        if self._cache is not None:
            self._cache.delete(self._slot(scope, key))

    @staticmethod
    def _slot(scope: str, key: str) -> str:
        return f"idem:{scope}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"

    def _earlier(self, slot: str, request_hash: str, command: Callable[[], Answer]) -> Answer:
        assert self._cache is not None
        earlier = _earlier_answer(_stored(self._cache.get(slot)), request_hash)
        return earlier if earlier is not None else command()


def _stored_form(request_hash: str, answer: Answer, *, keep_body: bool) -> tuple[bytes, Answer]:
    """What Redis keeps of an answer for retries, and the answer with its body encoded,
    once for both Redis and the response."""
    head = json.dumps({"hash": request_hash, "status": answer.status})
    if not keep_body:
        return head.encode(), answer
    body = answer.encoded or encode_body(answer.body)
    # `{"hash":…,"status":…,"body":<the response's own bytes>}`: still one JSON value.
    stored = head[:-1].encode() + b', "body": ' + body + b"}"
    return stored, replace(answer, encoded=body)


def _claim(request_hash: str) -> bytes:
    """`answer_async`'s claim: the request's hash, and no status (no answer kept)."""
    return json.dumps({"hash": request_hash}).encode()


IN_FLIGHT_MESSAGE = "a request with this Idempotency-Key is still in progress; retry shortly"


def _stored(raw: bytes | None) -> dict[str, Any] | None:
    """What Redis keeps for a key, parsed once; None when it keeps nothing (expired
    meanwhile, or Redis went away: Postgres decides). Raises while the key is in flight."""
    if raw == IN_FLIGHT:
        raise RequestInFlight(IN_FLIGHT_MESSAGE)
    return None if raw is None else cast(dict[str, Any], json.loads(raw))


def _earlier_answer(stored: dict[str, Any] | None, request_hash: str) -> Answer | None:
    """The earlier request's answer as Redis keeps it; None when Postgres must decide
    (nothing kept, kept out of Redis, or only claimed by `answer_async`); raises when
    the key was used for another request."""
    if stored is None:
        return None
    if stored["hash"] != request_hash:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request; use a new key"
        )
    if "body" not in stored:  # kept out of Redis (personal data), or a claim: Postgres
        return None
    return Answer(int(stored["status"]), stored["body"], replayed=True)
