"""Settlements: close what a merchant is owed up to a cut-off; paying it out is the
saga's next step, a process manager (paysource.processes.payouts).

close ─▶ payout at the bank rail ─▶ paid
                └─ refused, or no answer past the retry budget ─▶ failed:
                   compensate by releasing every item for the next settlement
                   (the ledger projection reverses the pending payout lines)
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from paysource.application.errors import ApplicationError, NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Outcome, with_conflict_retries
from paysource.domain.errors import InvalidValue
from paysource.domain.meta import Meta
from paysource.domain.money import MAX_AMOUNT_MINOR
from paysource.domain.payment import Payment
from paysource.domain.settlement import (
    CARRIED_IN_KINDS,
    Item,
    ItemClaim,
    ItemKind,
    Settlement,
    settlement_id,
)

MAX_ITEMS_PER_SETTLEMENT = 10_000


class NothingToSettle(ApplicationError):
    code = "nothing_to_settle"


def check_cutoff(until: datetime, now: datetime) -> datetime:
    """A cut-off must be a moment that has passed: items after it are not known yet."""
    if until.tzinfo is None:
        raise InvalidValue("the cut-off must have a time zone", field="until")
    if until > now:
        raise InvalidValue("the cut-off is in the future", field="until")
    return until


class WaitingItems(Protocol):
    def waiting_items(
        self, *, merchant_id: UUID, currency: str, until: datetime, limit: int
    ) -> list[Item]: ...

    def due(self, *, until: datetime) -> list[tuple[UUID, str]]: ...


class SettlementService:
    def __init__(self, store: EventStore, items: WaitingItems) -> None:
        self._store = store
        self._items = items

    def close(
        self, *, merchant_id: UUID, currency: str, until: datetime, meta: Meta
    ) -> Outcome[Settlement]:
        """Close the settlement of `merchant_id` in `currency` at cut-off `until`.

        Idempotent: the settlement's id derives from the cut-off, so a retry (or a
        concurrent run) finds the same settlement instead of making another.
        """

        def attempt() -> Outcome[Settlement]:
            existing = self._store.get(settlement_id(merchant_id, currency, until), Settlement)
            if existing is not None:
                return Outcome(existing, replayed=True)
            settlement = Settlement.open(
                merchant_id=merchant_id, currency=currency, cutoff=until, meta=meta
            )
            items, claims = self._claim(merchant_id, currency, until, settlement.id, meta)
            if not any(item.kind not in CARRIED_IN_KINDS for item in items):
                # A concurrent run of this very request may have claimed them meanwhile.
                existing = self._store.get(settlement.id, Settlement)
                if existing is not None:
                    return Outcome(existing, replayed=True)
                raise NothingToSettle("no captures or refunds wait for settlement up to then")
            settlement.close(items, meta)
            self._store.save(settlement, *claims)
            return Outcome(settlement)

        return with_conflict_retries(attempt)

    def _claim(
        self, merchant_id: UUID, currency: str, until: datetime, settlement: UUID, meta: Meta
    ) -> tuple[list[Item], list[ItemClaim]]:
        """The waiting items this settlement can claim, and their claims.

        The read model nominates; the claims decide: an item another settlement holds
        (the read model lagging) is left out, and a concurrent claim conflicts on save.
        """
        items, claims, gross = [], [], 0
        waiting = self._items.waiting_items(
            merchant_id=merchant_id, currency=currency, until=until, limit=MAX_ITEMS_PER_SETTLEMENT
        )
        held = self._held_payments(waiting)
        for item in waiting:
            if item.payment_id in held and item.kind in (ItemKind.CAPTURE, ItemKind.REFUND):
                continue  # the acquirer has not moved this money: it waits (docs/settlement.md)
            if item.kind is ItemKind.CAPTURE:
                gross += item.amount_minor
                if gross > MAX_AMOUNT_MINOR:
                    break  # the rest waits for the next settlement: a payout stays Money
            claim = self._store.get(item.claim_id, ItemClaim)
            if claim is None:
                claim = ItemClaim.first_claim(item, settlement, meta)
            elif claim.settlement_id is None:
                claim.claim(settlement, meta)
            else:
                continue
            items.append(item)
            claims.append(claim)
        return items, claims

    def _held_payments(self, items: list[Item]) -> set[UUID]:
        """The items' payments on a settlement hold, asked of the event store in one
        query (not of the read model, which may not have seen a refusal yet)."""
        ids = [i.payment_id for i in items if i.payment_id and i.kind is not ItemKind.CORRECTION]
        found = self._store.get_many(ids)
        return {
            payment_id
            for payment_id, payment in found.items()
            if isinstance(payment, Payment) and payment.settlement_hold is not None
        }

    def get(self, *, merchant_id: UUID | None, settlement: UUID) -> Settlement:
        found = self._store.get(settlement, Settlement)
        if found is None or merchant_id not in (None, found.merchant_id):
            raise NotFound("no such settlement")
        return found
