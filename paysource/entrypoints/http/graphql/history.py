"""Reads from the event store: a payment's events, objects as they were, and the
items of settlements.

`asOf` rebuilds a payment from its events up to a moment; mutations and live
updates show the exact version a command or event left. Each turns the aggregate
into the row the read model would hold, so types are still built from rows in
one place (their `from_row`). A settlement's items are only in its aggregate (a
failed settlement's items are released, so no read model keeps them). eventsourcing
is synchronous: calls run in threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from starlette.concurrency import run_in_threadpool

from paysource.adapters.postgres.reads import Row
from paysource.application import representations
from paysource.application.as_of import version_at
from paysource.application.payments import MAX_HISTORY_EVENTS
from paysource.application.results import PaymentState, RefundState
from paysource.bootstrap import Cell
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.payment import Payment
from paysource.domain.refund import Refund
from paysource.domain.settlement import Item, ItemKind, Settlement
from paysource.readmodels.reader import owns


def _time(event: DomainEventProtocol[UUID]) -> datetime:
    # Every paysource event is a PaysourceAggregate.Event, which has a timestamp.
    assert isinstance(event, PaysourceAggregate.Event)
    return event.timestamp


def payment_row(p: Payment | PaymentState) -> Row:
    """The `payments` read-model row of this state of the payment."""
    risk = p.risk
    return {
        "id": p.id,
        "merchant_id": p.merchant_id,
        "customer_id": p.customer_id,
        "status": str(p.status),
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "amount_capturable_minor": p.amount_capturable,
        "amount_captured_minor": p.amount_captured,
        "amount_refunded_minor": p.amount_refunded,
        "amount_refund_pending_minor": p.amount_refund_pending,
        "fee_minor": p.fee_minor,
        "capture_method": str(p.capture_method),
        "card_brand": p.card.brand,
        "card_bin": p.card.bin,
        "card_last4": p.card.last4,
        "risk_outcome": str(risk.outcome) if risk else None,
        "risk_score": risk.score if risk else None,
        "risk_reasons": list(risk.reasons) if risk else None,
        "decline_code": p.decline_code,
        "cancellation_reason": str(p.cancellation_reason) if p.cancellation_reason else None,
        "description": p.description,
        "metadata": dict(p.metadata),
        "created_at": p.created_on,
        "updated_at": p.modified_on,
        "authorized_at": p.authorized_at,
        "version": p.version,
        "relay_failures": list(p.relay_failures),
        "settlement_hold": str(p.settlement_hold) if p.settlement_hold else None,
        "relay_resolution": dict(p.relay_resolution) if p.relay_resolution else None,
        "capture_confirmed_at": p.capture_confirmed_at,
    }


def refund_row(r: Refund | RefundState, *, customer_id: UUID | None) -> Row:
    return {
        "id": r.id,
        "payment_id": r.payment_id,
        "merchant_id": r.merchant_id,
        "customer_id": customer_id,
        "status": str(r.status),
        "amount_minor": r.amount_minor,
        "currency": r.currency,
        "reason": str(r.reason) if r.reason else None,
        "failure_code": r.failure_code,
        "created_at": r.created_on,
        "updated_at": r.modified_on,
        "version": r.version,
    }


def item_row(s: Settlement, item: Item) -> Row:
    """One item of a settlement, with what a type needs to resolve what it refers to."""
    return {
        "settlement_id": s.id,
        "merchant_id": s.merchant_id,
        "currency": s.currency,
        "kind": str(item.kind),
        "payment_id": item.payment_id,
        "refund_id": item.ref_id if item.kind is ItemKind.REFUND else None,
        "carried_from_id": item.ref_id if item.kind is ItemKind.CARRIED_FORWARD else None,
        "amount_minor": item.amount_minor,
        "fee_minor": item.fee_minor,
        "net_minor": item.net_minor,
    }


def event_row(event: DomainEventProtocol[UUID]) -> Row:
    """An event as auditors see it (the same shape as REST's `/events`)."""
    return representations.event(event)


def _payment(cells: Sequence[Cell], payment_id: UUID, version: int | None) -> Row | None:
    for cell in cells:
        payment = cell.store.get(payment_id, Payment, version=version)
        if payment is not None:
            return payment_row(payment)
    return None


def _payment_as_of(cells: Sequence[Cell], payment_id: UUID, moment: datetime) -> Row | None:
    for cell in cells:
        version = version_at(cell.store, payment_id, moment)
        payment = None if version is None else cell.store.get(payment_id, Payment, version=version)
        if payment is not None:
            return payment_row(payment)
    return None


def _refunds_as_of(cell: Cell, rows: Sequence[Row], moment: datetime) -> list[Row]:
    found = []
    for row in rows:
        version = version_at(cell.store, row["id"], moment)
        refund = None if version is None else cell.store.get(row["id"], Refund, version=version)
        if refund is not None:
            found.append(refund_row(refund, customer_id=row["customer_id"]))
    return found


def _events(cell: Cell, payment_id: UUID, until: datetime | None) -> list[Row]:
    events = cell.store.history(payment_id, limit=MAX_HISTORY_EVENTS)
    return [event_row(e) for e in events if until is None or _time(e) <= until]


def _events_of(owners: Sequence[tuple[Cell, UUID, datetime | None]]) -> list[list[Row]]:
    return [_events(cell, payment_id, until) for cell, payment_id, until in owners]


def _settlement_items(owners: Sequence[tuple[Cell, UUID, UUID]]) -> list[list[Row]]:
    found: list[list[Row]] = []
    for cell, merchant_id, settlement_id in owners:
        s = cell.store.get(settlement_id, Settlement)
        # The caller was authorized on the read-model row; the aggregate must agree.
        if s is None or not owns(merchant_id, s):
            found.append([])
        else:
            found.append([item_row(s, item) for item in s.items])
    return found


async def payment(cells: Sequence[Cell], payment_id: UUID, *, version: int | None) -> Row | None:
    """The payment at `version` (None: latest), as a row; None when absent."""
    return await run_in_threadpool(_payment, cells, payment_id, version)


async def payment_as_of(cells: Sequence[Cell], payment_id: UUID, moment: datetime) -> Row | None:
    """The payment as it was at `moment`: None when it did not exist yet."""
    return await run_in_threadpool(_payment_as_of, cells, payment_id, moment)


async def refunds_as_of(cell: Cell, rows: Sequence[Row], moment: datetime) -> list[Row]:
    """These refunds (read-model rows) as they were at `moment`."""
    return await run_in_threadpool(_refunds_as_of, cell, rows, moment)


# Payments whose events one thread reads, one after the other; batches run concurrently.
EVENTS_PER_THREAD = 10


async def events_of(owners: Sequence[tuple[Cell, UUID, datetime | None]]) -> list[list[Row]]:
    """The events of each (cell, payment, until), oldest first: one event-store read
    per payment, EVENTS_PER_THREAD per thread hop, the hops concurrent, so a page of
    payments with their events costs neither N round trips in a row nor the loop."""
    chunks = [owners[i : i + EVENTS_PER_THREAD] for i in range(0, len(owners), EVENTS_PER_THREAD)]
    found = await asyncio.gather(*(run_in_threadpool(_events_of, chunk) for chunk in chunks))
    return [rows for chunk in found for rows in chunk]


async def settlement_items(owners: Sequence[tuple[Cell, UUID, UUID]]) -> list[list[Row]]:
    """The items of each (cell, merchant, settlement), in the order it settled them;
    one thread hop for the whole batch, one event-store read per settlement."""
    return await run_in_threadpool(_settlement_items, owners)
