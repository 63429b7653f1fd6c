"""The floor: `POST /v1/payments` on FastAPI doing only a payment's I/O, as lean as we
know how to write it.

bench/payments.py `--floor` measures it beside paysource. It does what no payment can
skip, and nothing else:
- one Redis round trip that claims the idempotency key and counts the merchant's rate
  window (a Lua script);
- the payment's one event row (~650 bytes of JSON state) inserted into Postgres under
  the events table's EXCLUSIVE lock, by one committer thread that batches concurrent
  requests into one transaction (group commit, as paysource does), handed back to the
  event loop without a thread hop for the request itself;
- one Redis round trip that stores the answer for retries;
- the answer, encoded once.

No authentication lookup, no domain objects, no eventsourcing, no middleware, no
tracing, no metrics, no logs. `floor_cpu_ms_per_request` is therefore the least API
CPU per payment this stack (Python 3.11, uvicorn, FastAPI, redis-py, psycopg) spends
on this machine, and `floor_ratio` (its rate over `pgbench_tps`) the highest ratio a
paysource API on this stack could show here. Configured by `FLOOR_DATABASE_URL` and
`FLOOR_REDIS_URL`; the table `floor_events` must exist (payments.py creates it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import psycopg
import redis
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

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
    transaction; the event loop gets each row's id through its own future."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._queue: queue.SimpleQueue[tuple[bytes, bytes, asyncio.Future[int]]] = (
            queue.SimpleQueue()
        )
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        threading.Thread(target=self._run, daemon=True).start()

    def save(self, originator: bytes, state: bytes) -> asyncio.Future[int]:
        assert self._loop is not None
        answer: asyncio.Future[int] = self._loop.create_future()
        self._queue.put((originator, state, answer))
        return answer

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
            assert self._loop is not None
            for (_, _, answer), event_id in zip(batch, ids, strict=True):
                self._loop.call_soon_threadsafe(answer.set_result, event_id)


_redis = redis.Redis.from_url(os.environ.get("FLOOR_REDIS_URL", "redis://127.0.0.1:6379"))
_claim = _redis.register_script(CLAIM)
_committer = Committer(os.environ.get("FLOOR_DATABASE_URL", "postgresql:///postgres"))


@contextlib.asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    _committer.start(asyncio.get_running_loop())
    yield


app = FastAPI(lifespan=_lifespan)


@app.post("/v1/payments", status_code=202)
async def create_payment(
    body: PaymentIn,
    authorization: Annotated[str, Header()],
    idempotency_key: Annotated[str, Header()],
) -> Response:
    if not authorization.startswith("Bearer ") or not idempotency_key:
        raise HTTPException(status_code=401)
    merchant = hashlib.sha256(authorization.encode()).hexdigest()[:16]
    request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    claim_key = f"floor:claim:{merchant}:{idempotency_key}"
    # Redis is called from the event loop: a localhost round trip costs less CPU than
    # a thread hop, and this measures the least CPU, not the best latency.
    claimed = _claim(
        keys=[claim_key, f"floor:rate:{merchant}:{int(time.time())}"],
        args=[request_hash, 1_000_000],
    )
    if claimed != 1:
        stored = _redis.get(f"{claim_key}:answer")
        return Response(stored or b"{}", status_code=202, media_type="application/json")
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
    await _committer.save(payment_id.bytes, json.dumps(state).encode())
    answer = json.dumps(
        {
            "id": f"pay_{payment_id.hex}",
            "status": "processing",
            "amount": body.amount,
            "currency": body.currency,
        }
    ).encode()
    _redis.set(f"{claim_key}:answer", answer, ex=86400)
    return Response(answer, status_code=202, media_type="application/json")


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}
