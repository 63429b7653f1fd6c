"""The floor: `POST /v1/payments` on FastAPI doing only a payment's I/O, as lean as we
know how to write it.

bench/payments.py `--floor` measures it beside paysource. It does what no payment can
skip, and nothing else:
- one Redis round trip that claims the idempotency key and counts the merchant's rate
  window (a Lua script), through redis.asyncio;
- the payment's one event row (~650 bytes of JSON state) inserted into Postgres under
  the events table's EXCLUSIVE lock, by one committer thread that batches concurrent
  requests into one transaction (group commit, as paysource does), handed back to the
  event loop without a thread hop for the request itself;
- one Redis round trip that stores the answer for retries;
- the answer, encoded once.

No authentication lookup, no domain objects, no eventsourcing, no middleware, no
tracing, no metrics, no logs. `floor_cpu_ms_per_request` is therefore about the least
API CPU per payment we know how to spend on this stack (Python 3.11, uvicorn, FastAPI,
redis-py, psycopg) on this machine, and `floor_ratio` (its rate over `pgbench_tps`)
about the highest ratio a paysource API on this stack could show here. Configured by
`FLOOR_DATABASE_URL`, `FLOOR_REDIS_URL` and `FLOOR_MODE` (below); the table
`floor_events` must exist (payments.py creates it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import psycopg
import redis
import redis.asyncio as aioredis
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

WINDOW_S = 0.001
MAX_BATCH = 64
# KEYS: the claim, the rate window. ARGV: the request's hash, the window's limit.
# 1: claimed now; 0: claimed before (the stored answer is fetched); -1: over the limit.
CLAIM = """
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], 1) end
if n > tonumber(ARGV[2]) then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', 86400) then return 1 end
return 0
"""
# One statement for the whole batch: cheaper for the client than a statement a row.
INSERT = (
    "INSERT INTO floor_events (originator_id, originator_version, topic, state)"
    " SELECT o, 1, 'paysource.domain.payment.Payment.Created', s"
    " FROM unnest(%s::uuid[], %s::bytea[]) AS t(o, s) RETURNING id"
)


class PaymentIn(BaseModel):
    amount: int = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)
    source: str


class Committer:
    """One thread; each request's row waits at most WINDOW_S for others to share its
    transaction, and each caller gets its row's id through `done`."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._queue: queue.SimpleQueue[tuple[bytes, bytes, Callable[[int], object]]] = (
            queue.SimpleQueue()
        )

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def save(self, originator: bytes, state: bytes, done: Callable[[int], object]) -> None:
        self._queue.put((originator, state, done))

    def _run(self) -> None:
        conn = psycopg.connect(self._url)
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + WINDOW_S
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            with conn.transaction(), conn.cursor() as curs:
                curs.execute("LOCK TABLE floor_events IN EXCLUSIVE MODE")
                curs.execute(
                    INSERT,
                    ([uuid.UUID(bytes=o) for o, _, _ in batch], [s for _, s, _ in batch]),
                    binary=True,
                )
                ids = [row[0] for row in curs.fetchall()]
            for (_, _, done), event_id in zip(batch, ids, strict=True):
                done(event_id)


_REDIS_URL = os.environ.get("FLOOR_REDIS_URL", "redis://127.0.0.1:6379")
_redis = redis.Redis.from_url(_REDIS_URL)
_claim = _redis.register_script(CLAIM)
_committer = Committer(os.environ.get("FLOOR_DATABASE_URL", "postgresql:///postgres"))
# FLOOR_MODE: `async-redis` (the floor: redis.asyncio, the commit awaited, nothing
# blocks the loop), `loop` (sync redis-py called from the event loop) or `threaded`
# (each request's work in a pool thread, waiting on the commit there, as paysource's
# commands ran until 2026-12-07). The variants measure what each shape costs.
MODE = os.environ.get("FLOOR_MODE", "async-redis")
_aredis: aioredis.Redis | None = None


@contextlib.asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    global _aredis  # noqa: PLW0603  # bound to this process's event loop
    _aredis = aioredis.Redis.from_url(_REDIS_URL)
    await _aredis.script_load(CLAIM)  # evalsha needs it in Redis's script cache
    _committer.start()
    yield
    await _aredis.aclose()


app = FastAPI(lifespan=_lifespan)


@app.post("/v1/payments", status_code=202)
async def create_payment(
    body: PaymentIn,
    authorization: Annotated[str, Header()],
    idempotency_key: Annotated[str, Header()],
) -> Response:
    if not authorization.startswith("Bearer ") or not idempotency_key:
        raise HTTPException(status_code=401)
    if MODE == "threaded":
        return await run_in_threadpool(_pay_in_thread, body, authorization, idempotency_key)
    step = _Step.of(body, authorization, idempotency_key)
    if MODE == "async-redis":
        assert _aredis is not None
        claimed = await _aredis.evalsha(_claim.sha, 2, *step.claim_keys, *step.claim_args)
    else:
        # A localhost round trip from the loop costs less CPU than a thread hop.
        claimed = _claim(keys=step.claim_keys, args=step.claim_args)
    if claimed != 1:
        return _stored(_redis.get(step.answer_key))
    loop = asyncio.get_running_loop()
    committed: asyncio.Future[int] = loop.create_future()
    _committer.save(
        step.payment_id.bytes,
        step.state,
        lambda event_id: loop.call_soon_threadsafe(committed.set_result, event_id),
    )
    await committed
    if MODE == "async-redis":
        assert _aredis is not None
        await _aredis.set(step.answer_key, step.answer, ex=86400)
    else:
        _redis.set(step.answer_key, step.answer, ex=86400)
    return Response(step.answer, status_code=202, media_type="application/json")


def _pay_in_thread(body: PaymentIn, authorization: str, idempotency_key: str) -> Response:
    step = _Step.of(body, authorization, idempotency_key)
    if _claim(keys=step.claim_keys, args=step.claim_args) != 1:
        return _stored(_redis.get(step.answer_key))
    committed: concurrent.futures.Future[int] = concurrent.futures.Future()
    _committer.save(step.payment_id.bytes, step.state, committed.set_result)
    committed.result()
    _redis.set(step.answer_key, step.answer, ex=86400)
    return Response(step.answer, status_code=202, media_type="application/json")


def _stored(answer: bytes | None) -> Response:
    return Response(answer or b"{}", status_code=202, media_type="application/json")


@dataclasses.dataclass(frozen=True, slots=True)
class _Step:
    """A request's Redis keys, its event and its answer."""

    claim_keys: list[str]  # the claim, the rate window
    claim_args: list[str | int]  # the request's hash, the window's limit
    answer_key: str
    payment_id: uuid.UUID
    state: bytes
    answer: bytes

    @classmethod
    def of(cls, body: PaymentIn, authorization: str, idempotency_key: str) -> _Step:
        merchant = hashlib.sha256(authorization.encode()).hexdigest()[:16]
        request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        claim_key = f"floor:claim:{merchant}:{idempotency_key}"
        payment_id = uuid.uuid5(uuid.NAMESPACE_URL, claim_key)
        state: dict[str, Any] = {
            "originator_id": str(payment_id),
            "merchant_id": merchant,
            "amount": {"minor": body.amount, "currency": body.currency},
            "source": body.source[:4],
            "capture_method": "automatic",
            "request_hash": request_hash,
            "timestamp": time.time_ns(),
            "meta": {"request_id": uuid.uuid4().hex, "actor": merchant, "padding": "x" * 300},
        }
        answer = {
            "id": f"pay_{payment_id.hex}",
            "status": "processing",
            "amount": body.amount,
            "currency": body.currency,
        }
        return cls(
            claim_keys=[claim_key, f"floor:rate:{merchant}:{int(time.time())}"],
            claim_args=[request_hash, 1_000_000],
            answer_key=f"{claim_key}:answer",
            payment_id=payment_id,
            state=json.dumps(state).encode(),
            answer=json.dumps(answer).encode(),
        )


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}
