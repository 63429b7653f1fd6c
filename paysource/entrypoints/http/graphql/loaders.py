"""Per-request DataLoaders: every object a response needs is fetched in batches.

A page of 50 payments with their customers and refunds costs three statements
(the page, the customers, the refunds), not 101. Loaders live in the request's
context, so nothing is cached across requests or callers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from paysource.adapters.postgres.reads import Row
from paysource.entrypoints.http.graphql import history
from paysource.entrypoints.http.graphql.reads import Reads
from paysource.readmodels.directory.queries import CUSTOMER_LIST, MERCHANT_LIST
from paysource.readmodels.disputes.queries import DISPUTE_LIST
from paysource.readmodels.payments.queries import PAYMENT_LIST, REFUND_LIST
from paysource.readmodels.settlements.queries import SETTLEMENT_LIST
from paysource.readmodels.sql import Keyset, Listing
from paysource.readmodels.transactions.queries import TRANSACTION_LIST

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# (merchant id, customer id, first, after): one page of a customer's list.
PageKey = tuple[UUID, UUID, int, Keyset | None]
# (merchant id, settlement id): a settlement the caller was allowed to see.
SettlementKey = tuple[UUID, UUID]
# (merchant id, payment id, until): the events of a payment the caller may see.
EventsKey = tuple[UUID, UUID, datetime | None]


def _loader(load: Callable[[Sequence[K]], Awaitable[Sequence[V]]]) -> DataLoader[K, V]:
    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, reads: Reads) -> None:
        self.reads = reads
        self.payment = _loader(self._by_id(PAYMENT_LIST))
        self.customer = _loader(self._by_id(CUSTOMER_LIST))
        self.refund = _loader(self._by_id(REFUND_LIST))
        self.merchant = _loader(self._by_id(MERCHANT_LIST))
        self.settlement = _loader(self._by_id(SETTLEMENT_LIST))
        self.settlement_items = _loader(self._settlement_items)
        self.dispute = _loader(self._by_id(DISPUTE_LIST))
        self.disputes_of_payment = _loader(self._disputes_of)
        self.payment_events = _loader(self._payment_events)
        self.refunds_of_payment = _loader(self._refunds_of)
        self.customer_totals = _loader(self._totals)
        self.customer_payments = _loader(self._pages(PAYMENT_LIST))
        self.customer_transactions = _loader(self._pages(TRANSACTION_LIST))

    def _by_id(self, listing: Listing) -> Callable[[Sequence[UUID]], Awaitable[list[Row | None]]]:
        async def load(ids: Sequence[UUID]) -> list[Row | None]:
            found = await self.reads.by_ids(listing, ids)
            return [found.get(key) for key in ids]

        return load

    async def _refunds_of(self, payment_ids: Sequence[UUID]) -> list[list[Row]]:
        grouped: dict[UUID, list[Row]] = defaultdict(list)
        for row in await self.reads.refunds_of(payment_ids):
            grouped[row["payment_id"]].append(row)
        return [grouped[key] for key in payment_ids]

    async def _disputes_of(self, payment_ids: Sequence[UUID]) -> list[list[Row]]:
        grouped: dict[UUID, list[Row]] = defaultdict(list)
        for row in await self.reads.disputes_of(payment_ids):
            grouped[row["payment_id"]].append(row)
        return [grouped[key] for key in payment_ids]

    async def _settlement_items(self, keys: Sequence[SettlementKey]) -> list[list[Row]]:
        owners = [(self.reads.cell_of(merchant), merchant, uuid) for merchant, uuid in keys]
        return await history.settlement_items(owners)

    async def _payment_events(self, keys: Sequence[EventsKey]) -> list[list[Row]]:
        owners = [(self.reads.cell_of(merchant), uuid, until) for merchant, uuid, until in keys]
        return await history.events_of(owners)

    async def _totals(self, owners: Sequence[tuple[UUID, UUID]]) -> list[list[Row]]:
        grouped: dict[UUID, list[Row]] = defaultdict(list)
        for row in await self.reads.customer_totals(owners):
            grouped[row["customer_id"]].append(row)
        return [grouped[customer] for _, customer in owners]

    def _pages(self, listing: Listing) -> Callable[[Sequence[PageKey]], Awaitable[list[list[Row]]]]:
        async def load(keys: Sequence[PageKey]) -> list[list[Row]]:
            # One statement per distinct (first, after): in practice, one per request.
            by_window: dict[tuple[int, Keyset | None], list[tuple[UUID, UUID]]] = defaultdict(list)
            for merchant, customer, first, after in keys:
                by_window[(first, after)].append((merchant, customer))
            found: dict[PageKey, list[Row]] = defaultdict(list)
            for (first, after), owners in by_window.items():
                rows = await self.reads.customer_pages(listing, owners, first=first, after=after)
                for row in rows:
                    found[(row["merchant_id"], row["customer_id"], first, after)].append(row)
            # SQL orders rows within each LATERAL page, not the pages' concatenation.
            return [sorted(found[key], key=listing.position, reverse=True) for key in keys]

        return load
