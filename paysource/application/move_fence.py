"""What a merchant's move seals its old cell against (docs/operations.md, cells move).

Each write of events names its owners: the merchant of each aggregate it writes (the
aggregate itself if it names none, as a settlement's item claims), and the merchant
or settlement a creating event names. The store hands them to the insert, which
refuses the write in its own transaction when a move sealed any of them
(adapters/postgres/recorder.py), so a command that passed routing before the move
cannot commit in the old cell after it. Owners, not aggregates: a batch of 64 saves
asks about a few merchants, not a few hundred aggregates (bench/fence_cost.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.api_key import ApiKey
from paysource.domain.merchant import Merchant

# The insert's error (migration 027): the write's merchant moved out of this cell.
MOVED_OUT_SQLSTATE = "PSM01"
# Merchants and API keys stay in the directory cell whichever cell holds the merchant.
_DIRECTORY = (Merchant, ApiKey)
_DIRECTORY_EVENTS = (Merchant.Event, ApiKey.Event)


def owners(
    events: Iterable[DomainEventProtocol[UUID]], written: Iterable[PaysourceAggregate | None]
) -> list[UUID]:
    """The owners of a write: of the aggregates `written` and the creating `events`."""
    found: dict[UUID, None] = {}
    for aggregate in written:
        if aggregate is not None and not isinstance(aggregate, _DIRECTORY):
            merchant = getattr(aggregate, "merchant_id", None)
            found[merchant if isinstance(merchant, UUID) else aggregate.id] = None
    for event in events:
        if event.originator_version == 1 and not isinstance(event, _DIRECTORY_EVENTS):
            for name in ("merchant_id", "settlement_id"):  # a claim names its settlement
                owner = getattr(event, name, None)
                if isinstance(owner, UUID):
                    found[owner] = None
    return list(found)


def moved_out(error: BaseException) -> bool:
    """Whether a store's error is the insert's refusal of a sealed merchant."""
    return getattr(error.__cause__, "sqlstate", None) == MOVED_OUT_SQLSTATE
