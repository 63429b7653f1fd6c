"""An aggregate's past as it may be shown now: once its subject is erased, erased in
every view of it (docs/audit.md, "Erasing personal data").

Erasing destroys the subject's key and records it (`Customer.Erased`,
`Dispute.EvidenceErased`), so the current state is erased and sealed events decode
erased. Views of the past need more: events stored before sealing existed are plain,
and another API process may still hold the key in its cache for up to 60 s. So the
event history (`/events`), a past version (`?as_of=`) and the replayed answer of a
retried command are all built from `shown` events: once the erasure is among an
aggregate's events, every personal field of every one of them (per the registry the
mapper seals by, and as its erased form reads) is ERASED. One rule, here.

Auditors' inclusion proofs are not: they carry an event's stored bytes, which must stay
as stored for the proof to verify (docs/audit.md, "Limits").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from paysource.application.errors import NotFound
from paysource.application.event_rows import fold
from paysource.application.eventlog import PERSONAL, EventStore
from paysource.application.personal_data import Registry, erased_form
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.customer import Customer
from paysource.domain.dispute import Dispute

A = TypeVar("A", bound=PaysourceAggregate)
Event = DomainEventProtocol[UUID]

# Each aggregate kind with personal data → the event that erases it, past and present.
# A kind added to the registry needs its erasure here too.
ERASURES: dict[type[PaysourceAggregate], type[PaysourceAggregate.Event]] = {
    Customer: Customer.Erased,
    Dispute: Dispute.EvidenceErased,
}
_ERASABLE, _ERASURE_EVENTS = tuple(ERASURES), tuple(ERASURES.values())
# Enough for any object's history (a payment's is the longest: tens of events).
MAX_EVENTS = 10_000


def shown(events: Sequence[Event], registry: Registry = PERSONAL) -> list[Event]:
    """One aggregate's events (all of them, oldest first) as they may be shown now:
    once its erasure is among them, every personal value in them ERASED."""
    if not any(isinstance(e, _ERASURE_EVENTS) for e in events):
        return list(events)
    return [_erased(e, registry) for e in events]


def shown_history(store: EventStore, aggregate_id: UUID) -> list[Event]:
    """The aggregate's whole history as it may be shown now (`shown`)."""
    return shown(store.history(aggregate_id, limit=MAX_EVENTS))


def past_version(store: EventStore, aggregate_id: UUID, kind: type[A], version: int) -> A | None:
    """The aggregate at `version` as it may be shown now (None: absent, or another kind).
    An erasable kind is read from its history alone; any other loads as it is, and
    costs a second read only if it turns out erasable (a claim read as any aggregate)."""
    if not issubclass(kind, _ERASABLE):
        found = store.get(aggregate_id, kind, version=version)
        if not isinstance(found, _ERASABLE):
            return found
    events = shown_history(store, aggregate_id)
    try:
        return version_of(events, up_to_version(version), kind)
    except NotFound:
        return None


def version_of(events: Sequence[Event], keep: Callable[[Event], bool], kind: type[A]) -> A:
    """The aggregate as the events that `keep` takes (its first ones) leave it;
    NotFound if there are none, or they are not a `kind`'s."""
    found = list(fold(e for e in events if keep(e)).values())
    if len(found) != 1 or not isinstance(found[0], kind):
        raise NotFound(f"no such {kind.__name__.lower()}")
    return found[0]


def up_to_version(version: int) -> Callable[[Event], bool]:
    return lambda event: event.originator_version <= version


def up_to_moment(events: Sequence[Event], moment: datetime) -> Callable[[Event], bool]:
    """Its events up to the last one stamped at or before `moment`: a prefix of
    versions, even if a later version carries an earlier time (hosts' clocks differ,
    and a retried command keeps its request's time)."""
    return up_to_version(version_at_moment(events, moment) or 0)


def version_at_moment(events: Sequence[Event], moment: datetime) -> int | None:
    """The version an aggregate had at `moment`, from its events (None: it did not
    exist yet): the last version stamped at or before it, as `up_to_moment` says."""
    return max((e.originator_version for e in events if _time(e) <= moment), default=None)


def _time(event: Event) -> datetime:
    assert isinstance(event, PaysourceAggregate.Event)  # every paysource event has a time
    return event.timestamp


def _erased(event: Event, registry: Registry) -> Event:
    personal = registry.get(type(event))
    return event if personal is None else erased_form(event, personal)
