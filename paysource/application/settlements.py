"""Settlements: close what a merchant is owed up to a cut-off, then pay it out (a saga).

close ─▶ payout at the bank rail ─▶ paid
                └─ refused, or no answer past the retry budget ─▶ failed:
                   compensate by releasing every item for the next settlement
                   (the ledger projection reverses the pending payout lines)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from paysource.application.errors import ApplicationError, NotFound
from paysource.application.eventlog import Event, EventStore
from paysource.application.idempotency import Outcome, with_conflict_retries
from paysource.application.ports import BankRail, BankTimeout, Clock, PayoutResult
from paysource.domain.errors import InvalidValue
from paysource.domain.meta import Meta
from paysource.domain.money import MAX_AMOUNT_MINOR, Money
from paysource.domain.schedule import DailySchedule
from paysource.domain.settlement import (
    Item,
    ItemClaim,
    ItemKind,
    Settlement,
    SettlementStatus,
    settlement_id,
)
from paysource.processes.pipeline import UnitOfWork

log = logging.getLogger(__name__)

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
            if not any(item.kind is not ItemKind.CARRIED_FORWARD for item in items):
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
        for item in self._items.waiting_items(
            merchant_id=merchant_id, currency=currency, until=until, limit=MAX_ITEMS_PER_SETTLEMENT
        ):
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

    def get(self, *, merchant_id: UUID | None, settlement: UUID) -> Settlement:
        found = self._store.get(settlement, Settlement)
        if found is None or merchant_id not in (None, found.merchant_id):
            raise NotFound("no such settlement")
        return found


@dataclass(frozen=True, slots=True)
class PayoutRetry:
    attempts: int = 3
    base_delay_s: float = 0.5


class PayoutProcessor:
    """Follows closed settlements and pays them out; a batch and its tracking position
    commit together, and payouts are idempotent by settlement, so a worker killed
    between the bank's answer and the commit asks again and is paid once."""

    name = "payouts"
    topics = (get_topic(Settlement.Closed),)

    def __init__(
        self, store: EventStore, bank: BankRail, clock: Clock, *, retry: PayoutRetry | None = None
    ) -> None:
        self._store = store
        self._bank = bank
        self._clock = clock
        self._retry = retry or PayoutRetry()

    def position(self) -> int:
        return self._store.position(self.name)

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        uow = UnitOfWork(self._store)
        for event in events:
            settlement = uow.get(event.originator_id, Settlement)
            if settlement is not None and settlement.status is SettlementStatus.CLOSED:
                self._pay(settlement, uow)
        self._store.save(*uow.aggregates(), tracking=tracking)

    def _pay(self, settlement: Settlement, uow: UnitOfWork) -> None:
        meta = Meta.system("payouts", at=self._clock.now())
        result = self._payout(settlement)
        if result.accepted:
            settlement.mark_paid(payout_reference=result.reference, meta=meta)
            return
        log.warning("payout of settlement %s failed: %s", settlement.id, result.reason)
        settlement.mark_failed(reason=result.reason, meta=meta)
        for item in settlement.items:  # compensation: release for the next settlement
            claim = uow.get(item.claim_id, ItemClaim)
            assert claim is not None, "a closed settlement's items are claimed"
            claim.release(settlement.id, meta)

    def _payout(self, settlement: Settlement) -> PayoutResult:
        key = f"{settlement.id}:payout"
        amount = Money(settlement.net_minor, settlement.currency)
        for attempt in range(self._retry.attempts):
            try:
                return self._bank.payout(
                    idempotency_key=key, merchant_id=settlement.merchant_id, amount=amount
                )
            except BankTimeout as error:
                log.warning("payout %s: no answer (attempt %d): %s", key, attempt + 1, error)
                time.sleep(self._retry.base_delay_s * 2**attempt)
        # Past the retry budget: learn whether the rail made the payout after all; if
        # not, the rail cancels the key so a late arrival can never pay twice.
        known = self._bank.settle_unknown(idempotency_key=key)
        return known or PayoutResult(accepted=False, reason="bank_timeout")


class SettlementScheduler:
    """Closes every due settlement at the schedule's latest cut-off; safe to run
    often and in several places, since settlements are idempotent per cut-off."""

    def __init__(
        self,
        service: SettlementService,
        items: WaitingItems,
        clock: Clock,
        schedule: DailySchedule,
    ) -> None:
        self._service = service
        self._items = items
        self._clock = clock
        self._schedule = schedule

    def tick(self) -> list[Settlement]:
        cutoff = self._schedule.last_cutoff(self._clock.now())
        closed = []
        for merchant_id, currency in self._items.due(until=cutoff):
            meta = Meta.system("settlement-schedule", at=self._clock.now())
            try:
                outcome = self._service.close(
                    merchant_id=merchant_id, currency=currency, until=cutoff, meta=meta
                )
            except NothingToSettle:
                continue
            if not outcome.replayed:
                closed.append(outcome.value)
        if closed:
            log.info("closed %d settlements at cut-off %s", len(closed), cutoff.isoformat())
        return closed
