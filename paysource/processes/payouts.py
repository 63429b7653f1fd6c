"""Payouts: the saga step after a settlement closes.

closed ─▶ payout at the bank rail ─▶ paid
   │        └─ refused, or no answer past the retry budget ─▶ failed:
   │           compensate by releasing every item for the next settlement
   ├─ converted to a payout of 0 ─▶ paid, nothing sent to the bank
   └─ a payout that is not an amount (a conversion stored before they were checked)
      ─▶ failed (`payout_out_of_range`), compensated as above
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from paysource.application.eventlog import Event, EventStore
from paysource.application.ids import Kind, encode
from paysource.application.ports import BankRail, BankTimeout, Clock, PayoutResult
from paysource.domain.meta import Meta
from paysource.domain.money import MAX_AMOUNT_MINOR, Money
from paysource.domain.settlement import ItemClaim, Settlement, SettlementStatus
from paysource.processes.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

PAYOUT_OUT_OF_RANGE = "payout_out_of_range"


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
        if settlement.payout_minor == 0:
            # A positive net converted to less than half a minor unit: a payout
            # instruction of 0 has nothing to move (docs/settlement.md).
            settlement.mark_paid(payout_reference=None, meta=meta)
            return
        result = self._payout(settlement)
        if result.accepted:
            settlement.mark_paid(payout_reference=result.reference, meta=meta)
            return
        settlement_id = encode(Kind.SETTLEMENT, settlement.id)
        log.warning("payout of settlement %s failed: %s", settlement_id, result.reason)
        settlement.mark_failed(reason=result.reason, meta=meta)
        for item in settlement.items:  # compensation: release for the next settlement
            claim = uow.get(item.claim_id, ItemClaim)
            assert claim is not None, "a closed settlement's items are claimed"
            claim.release(settlement.id, meta)

    def _payout(self, settlement: Settlement) -> PayoutResult:
        key = f"{settlement.id}:payout"
        if not 0 < settlement.payout_minor <= MAX_AMOUNT_MINOR:
            return _out_of_range(settlement)
        # In the settlement currency when the settlement converted (else the items').
        amount = Money(settlement.payout_minor, settlement.payout_currency)
        for attempt in range(self._retry.attempts):
            try:
                return self._bank.payout(
                    idempotency_key=key, merchant_id=settlement.merchant_id, amount=amount
                )
            except BankTimeout as error:
                log.warning(
                    "payout of settlement %s: no answer (attempt %d): %s",
                    encode(Kind.SETTLEMENT, settlement.id),
                    attempt + 1,
                    error,
                )
                time.sleep(self._retry.base_delay_s * 2**attempt)
        # Past the retry budget: learn whether the rail made the payout after all; if
        # not, the rail cancels the key so a late arrival can never pay twice.
        known = self._bank.settle_unknown(idempotency_key=key)
        return known or PayoutResult(accepted=False, reason="bank_timeout")


def _out_of_range(settlement: Settlement) -> PayoutResult:
    """A payout no rail can take, stored before conversions were checked (domain/fx.py):
    raising would stop every merchant's payouts behind it for good, so it fails alone,
    with a reason, and its items go back for the next settlement (checked this time)."""
    log.error(
        "payout of settlement %s is not an amount (%d minor units of %s): failed as %s",
        encode(Kind.SETTLEMENT, settlement.id),
        settlement.payout_minor,
        settlement.payout_currency,
        PAYOUT_OUT_OF_RANGE,
    )
    return PayoutResult(accepted=False, reason=PAYOUT_OUT_OF_RANGE)
