"""What a merchant's move seals its old cell against (docs/operations.md, cells move).

Each write of events names ids: each event's aggregate, and the merchant or settlement
a creating event names. The store hands them to the insert, which refuses them in the
same transaction when a move sealed any of them (adapters/postgres/recorder.py), so a
command that passed routing before the move cannot commit in the old cell after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from paysource.domain.api_key import ApiKey
from paysource.domain.merchant import Merchant

# The insert's error (migration 026): the write's merchant moved out of this cell.
MOVED_OUT_SQLSTATE = "PSM01"
# Merchants and API keys stay in the directory cell whichever cell holds the merchant.
_DIRECTORY_EVENTS = (Merchant.Event, ApiKey.Event)


def fence_ids(events: Iterable[DomainEventProtocol[UUID]]) -> list[UUID]:
    ids: list[UUID] = []
    for event in events:
        if isinstance(event, _DIRECTORY_EVENTS):
            continue
        ids.append(event.originator_id)
        if event.originator_version == 1:
            for name in ("merchant_id", "settlement_id"):  # a claim names its settlement
                owner = getattr(event, name, None)
                if isinstance(owner, UUID):
                    ids.append(owner)
    return ids


def moved_out(error: BaseException) -> bool:
    """Whether a store's error is the insert's refusal of a sealed merchant."""
    return getattr(error.__cause__, "sqlstate", None) == MOVED_OUT_SQLSTATE
