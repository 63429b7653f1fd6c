"""Reads "as of a moment" beyond payments (see history.py for those): a customer's
totals, rebuilt from its payments' events up to the moment. A moment always has a
zone: DateTime refuses a time without one (scalars.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool

from paysource.application.as_of import payment_totals_as_of
from paysource.entrypoints.http.graphql.reads import Reads
from paysource.readmodels.payments.queries import customer_payment_ids

MAX_PAYMENTS = 1_000


async def customer_totals(
    reads: Reads, merchant_id: UUID, customer_id: UUID, moment: datetime
) -> list[dict[str, Any]]:
    """`merchant_id`'s customer, already seen by the caller: its cell is the caller's."""
    statement = customer_payment_ids(merchant_id, customer_id, limit=MAX_PAYMENTS + 1)
    rows = await reads.reader.everywhere(statement)
    if len(rows) > MAX_PAYMENTS:
        # Each payment is replayed from its events: refuse rather than run for long
        # (or answer a partial, wrong total).
        raise GraphQLError(
            f"`asOf` totals need a customer with at most {MAX_PAYMENTS} payments",
            extensions={"code": "invalid_argument"},
        )
    store = reads.cell_of(merchant_id).store
    ids = [row["id"] for row in rows]
    return await run_in_threadpool(payment_totals_as_of, store, ids, moment)
