"""Open websockets per owner in this process, each holding a slot until it ends.

An authenticated connection costs a watchdog task and memory while idle, and opening
one counts once against the rate limit: without a cap a key could pile up idle
connections. The owner is the subscription quota's (subscriptions.owner): a merchant
with all its keys and tokens, or a staff key. Counted as the live subscriptions are
(application/owner_slots.py), with this cap: PAYSOURCE_MAX_WEBSOCKETS_PER_OWNER.
"""

from __future__ import annotations

from paysource.application.owner_slots import OwnerSlots, Slot


class TooManyConnections(Exception):
    """The owner already holds as many open websockets in this process as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Too many open connections ({limit} at most for one merchant or key)")
        self.limit = limit


def claim_connection(connections: OwnerSlots, owner: str) -> Slot:
    """A slot for one more connection of `owner`; TooManyConnections past the cap."""
    slot = connections.claim(owner)
    if slot is None:
        raise TooManyConnections(connections.max_per_owner)
    return slot
