"""An aggregate as it was at a moment: the version its last event up to then left.

Every event carries its command's time, and an aggregate's versions are in time
order, so the state "as of" a moment is a replay of the events up to it — exactly
what loading that version does. A single object is replayed from its events as they
may be shown now (erased_history.py): an erased customer's or dispute's past versions
show its personal data erased.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from paysource.application.erased_history import (
    MAX_EVENTS,
    shown_history,
    up_to_moment,
    version_at_moment,
    version_of,
)
from paysource.application.eventlog import EventStore
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.payment import Payment

A = TypeVar("A", bound=PaysourceAggregate)


def version_at(store: EventStore, aggregate_id: UUID, moment: datetime) -> int | None:
    """The version the aggregate had at `moment` (None: it did not exist yet)."""
    return version_at_moment(store.history(aggregate_id, limit=MAX_EVENTS), moment)


def load_as_of(store: EventStore, aggregate_id: UUID, kind: type[A], moment: datetime) -> A:
    """The aggregate at `moment`, as it may be shown now; NotFound when absent then (or
    of another kind)."""
    events = shown_history(store, aggregate_id)
    return version_of(events, up_to_moment(events, moment), kind)


def payment_totals_as_of(
    store: EventStore, payment_ids: Sequence[UUID], moment: datetime
) -> list[dict[str, Any]]:
    """Per currency, as the payments read model sums them (count, captured, refunded),
    but from each payment's state at `moment`: those created later do not count."""
    totals: dict[str, dict[str, Any]] = {}
    for payment_id in payment_ids:
        version = version_at(store, payment_id, moment)
        payment = None if version is None else store.get(payment_id, Payment, version=version)
        if payment is None:
            continue
        total = totals.setdefault(
            payment.currency,
            {"currency": payment.currency, "payments": 0, "captured_minor": 0, "refunded_minor": 0},
        )
        total["payments"] += 1
        total["captured_minor"] += payment.amount_captured
        total["refunded_minor"] += payment.amount_refunded
    return [totals[currency] for currency in sorted(totals)]
