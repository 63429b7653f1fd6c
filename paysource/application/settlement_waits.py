"""Settlements waiting for a rate, and their end when a later cut-off's closes first.

    close(T1), no rate ─▶ Settlement(T1) open, RateAwaited ─┐ one save, with the
                          SettlementWaits += T1 ─────────────┘ merchant+currency's register
    close(T2 > T1)     ─▶ Settlement(T2) closed, its claims ──┐
                          Settlement(T1) Superseded(by=T2)    │ one save
                          SettlementWaits -= T1, T2 ──────────┘

The register is read from the event store, so a waiting settlement is never missed
because a read model lags; two closes touching it conflict on its version and one is
retried (`with_conflict_retries`), so a waiting settlement ends exactly once: closed
(a rate came for its own cut-off) or superseded.
"""

from __future__ import annotations

from paysource.application.eventlog import EventStore
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.meta import Meta
from paysource.domain.settlement import Settlement, SettlementStatus
from paysource.domain.settlement_waits import SettlementWaits, waits_id


class Waits:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    def _register(self, settlement: Settlement) -> SettlementWaits | None:
        found = waits_id(settlement.merchant_id, settlement.currency)
        return self._store.get(found, SettlementWaits)

    def waiting(self, settlement: Settlement, meta: Meta) -> list[PaysourceAggregate]:
        """The register with `settlement` on it, if that changed it: save them together."""
        register = self._register(settlement) or SettlementWaits.start(
            merchant_id=settlement.merchant_id, currency=settlement.currency, meta=meta
        )
        register.wait(settlement.id, settlement.cutoff, meta)
        return [register] if register.pending_events else []

    def closing(self, settlement: Settlement, meta: Meta) -> list[PaysourceAggregate]:
        """What closing `settlement` changes besides it: every earlier waiting settlement
        superseded, and the register without them (nor `settlement`, if it waited)."""
        register = self._register(settlement)
        if register is None:
            return []
        earlier = [self._store.get(s, Settlement) for s in register.before(settlement.cutoff)]
        superseded = [s for s in earlier if s is not None and s.status is SettlementStatus.OPEN]
        for waiting in superseded:
            waiting.supersede(settlement, meta)
        ended = [*register.before(settlement.cutoff), settlement.id]
        register.end(ended, meta)
        return [*superseded, register] if register.pending_events else [*superseded]
