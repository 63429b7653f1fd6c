"""Who acted, on which request, and when: the metadata every event carries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import NewType

# A keyed hash of an Idempotency-Key (`idempotency.key_digest`): events, kept forever
# and shown to auditors, hold this and never the key, which a client may fill with
# anything (a card number included). A distinct type, so a plain `str` is refused by
# mypy, and checked at run time too.
KeyDigest = NewType("KeyDigest", str)
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ActorKind(StrEnum):
    MERCHANT = "merchant"
    ADMIN = "admin"
    FINANCE = "finance"
    AUDITOR = "auditor"
    SYSTEM = "system"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Meta:
    """The context of one command.

    `at` becomes the event's timestamp (so an injected clock drives time in tests);
    the rest is stored in the event's `meta` field for auditors.
    """

    actor: ActorKind
    actor_id: str = ""
    request_id: str | None = None
    idempotency_key_hmac: KeyDigest | None = None
    traceparent: str | None = None
    at: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            # A naive time cannot be compared with event timestamps: a programming error.
            raise TypeError("Meta.at must be timezone-aware")
        if self.idempotency_key_hmac is not None and not _DIGEST.match(self.idempotency_key_hmac):
            raise TypeError("Meta.idempotency_key_hmac must be key_digest(key), never the key")

    def as_event_meta(self) -> dict[str, str]:
        stored = {"actor": str(self.actor), "actor_id": self.actor_id}
        optional = {
            "request_id": self.request_id,
            "idempotency_key_hmac": self.idempotency_key_hmac,
            "traceparent": self.traceparent,
        }
        stored.update({name: value for name, value in optional.items() if value})
        return stored

    @classmethod
    def system(cls, component: str, *, at: datetime | None = None) -> Meta:
        return cls(ActorKind.SYSTEM, component, at=at or utc_now())
