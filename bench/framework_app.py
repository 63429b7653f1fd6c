"""The framework alone: `POST /v1/payments` on FastAPI and uvicorn doing no work.

The yardstick for the web layer (bench/payments.py `--framework`): the same server
(uvicorn, one process per core, as `paysource serve` runs), the same request (a bearer
key, an `Idempotency-Key`, the JSON body validated by a pydantic model) and a `202`
with a small JSON body, but no database, no Redis, no domain. Whatever paysource
accepts per second can never be more than this on the same machine, so
`framework_ratio` (this over `pgbench_tps`) is the highest `ratio` reachable while
the API stays on FastAPI.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

app = FastAPI()


class PaymentIn(BaseModel):
    amount: int = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)
    source: str


@app.post("/v1/payments", status_code=202)
async def create_payment(
    body: PaymentIn,
    authorization: Annotated[str, Header()],
    idempotency_key: Annotated[str, Header()],
) -> JSONResponse:
    # `async`, as paysource's create_payment is: no thread hop for a body with no I/O.
    if not authorization.startswith("Bearer ") or not idempotency_key:
        raise HTTPException(status_code=401)
    return JSONResponse(
        status_code=202,
        content={
            "id": f"pay_{secrets.token_hex(8)}",
            "status": "processing",
            "amount": body.amount,
            "currency": body.currency,
        },
    )


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}
