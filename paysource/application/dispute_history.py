"""A dispute's past as it may be shown now: once its evidence is erased, erased in every
view of it (docs/audit.md, "Erasing personal data").

`Dispute.EvidenceErased` erases the evidence in the dispute's current state, and the
dispute's key is destroyed, so its sealed event decodes erased. Views of its past need
more: evidence stored before sealing existed is plain in its event, and another API
process may still hold the dispute's key in its cache for up to 60 s. So the event
history (`/events`), a past version (`?as_of=`) and the replayed answer of a retried
submission are all built from `shown` events: one rule, here.

Auditors' inclusion proofs are not: they carry an event's stored bytes, which must stay
as stored for the proof to verify (docs/audit.md, "Limits").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from paysource.application.errors import NotFound
from paysource.application.event_rows import fold
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.dispute import Dispute
from paysource.domain.dispute_evidence import erase_evidence

Event = DomainEventProtocol[UUID]


def shown(events: Sequence[Event]) -> list[Event]:
    """A dispute's events (all of them, oldest first) as they may be shown now: once an
    `EvidenceErased` is among them, every evidence in them erased."""
    if not any(isinstance(e, Dispute.EvidenceErased) for e in events):
        return list(events)
    return [_erased(e) for e in events]


def version_of(events: Sequence[Event], keep: Callable[[Event], bool]) -> Dispute:
    """The dispute as the `shown` events that `keep` takes (its first ones) leave it;
    NotFound if there are none, or they are not a dispute's."""
    found = list(fold(e for e in events if keep(e)).values())
    if len(found) != 1 or not isinstance(found[0], Dispute):
        raise NotFound("no such dispute")
    return found[0]


def up_to_version(version: int) -> Callable[[Event], bool]:
    return lambda event: event.originator_version <= version


def up_to_moment(events: Sequence[Event], moment: datetime) -> Callable[[Event], bool]:
    """Its events up to the last one stamped at or before `moment`, as `load_as_of`
    takes them: a prefix of versions, even if a later version carries an earlier time
    (hosts' clocks differ, and a retried command keeps its request's time)."""
    stamped = [e.originator_version for e in events if _time(e) <= moment]
    return up_to_version(max(stamped, default=0))


def _time(event: Event) -> datetime:
    assert isinstance(event, PaysourceAggregate.Event)  # every paysource event has a time
    return event.timestamp


def _erased(event: Event) -> Event:
    if isinstance(event, Dispute.EvidenceSubmitted):
        # Typed loosely: mypy sees eventsourcing's events without their own fields.
        changes: dict[str, Any] = {"evidence": erase_evidence(event.evidence)}
        return dataclasses.replace(event, **changes)
    return event
