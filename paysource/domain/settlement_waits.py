"""The settlements of one merchant and currency that wait for an exchange rate.

A settlement with no rate for its cut-off is saved open (`RateAwaited`), claiming
nothing. When a settlement of a later cut-off closes, it takes those items, so the
waiting one must end (`Settlement.Superseded`). Finding it needs the event store, not
a read model that may not have seen it yet: this register, one per merchant and
currency (its id derives from the pair), lists them. The close that waits records
the settlement here, and the close that supersedes it takes it off, each in the same
transaction as the settlements themselves; concurrent ones conflict on its version
and are retried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self
from uuid import UUID, uuid5

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.meta import Meta

# Fixed forever: register ids derived from it name stored aggregates.
_WAITS_NAMESPACE = UUID("b7e2c4a9-3f61-4d08-9a5e-2c8d1f4b6e73")


def waits_id(merchant_id: UUID, currency: str) -> UUID:
    return uuid5(_WAITS_NAMESPACE, f"{merchant_id}:{currency}")


class SettlementWaits(PaysourceAggregate):
    class Started(PaysourceAggregate.Created):
        merchant_id: UUID
        currency: str

    class Waiting(PaysourceAggregate.Event):
        settlement_id: UUID
        cutoff: datetime

        def apply(self, aggregate: SettlementWaits) -> None:
            aggregate.waiting[self.settlement_id] = self.cutoff

    class Ended(PaysourceAggregate.Event):
        # Strings: the event's JSON keeps ids inside lists as text.
        settlement_ids: list[str]

        def apply(self, aggregate: SettlementWaits) -> None:
            for ended in self.settlement_ids:
                aggregate.waiting.pop(UUID(ended), None)

    def __init__(self, *, merchant_id: UUID, currency: str) -> None:
        self.merchant_id = merchant_id
        self.currency = currency
        self.waiting: dict[UUID, datetime] = {}

    @classmethod
    def start(cls, *, merchant_id: UUID, currency: str, meta: Meta) -> Self:
        return cls._open(
            cls.Started,
            aggregate_id=waits_id(merchant_id, currency),
            meta=meta,
            merchant_id=merchant_id,
            currency=currency,
        )

    def wait(self, settlement_id: UUID, cutoff: datetime, meta: Meta) -> None:
        if settlement_id not in self.waiting:
            self._record(self.Waiting, meta, settlement_id=settlement_id, cutoff=cutoff)

    def before(self, cutoff: datetime) -> list[UUID]:
        """The waiting settlements of earlier cut-offs, oldest first."""
        earlier = [s for s, at in self.waiting.items() if at < cutoff]
        return sorted(earlier, key=lambda s: self.waiting[s])

    def end(self, settlement_ids: list[UUID], meta: Meta) -> None:
        ended = sorted(str(s) for s in settlement_ids if s in self.waiting)
        if ended:
            self._record(self.Ended, meta, settlement_ids=ended)
