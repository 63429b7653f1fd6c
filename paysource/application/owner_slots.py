"""Places held per owner in one process, at most `max_per_owner` each.

What keeps one merchant (with all its keys and tokens) or one staff key from taking
every open websocket (entrypoints/http/graphql/connections.py) or every live
subscription (adapters/redis/feed.py) of an API process. Each caller refuses a claim
past the cap with its own error: the transports answer them differently.
"""

from __future__ import annotations


class Slot:
    """One place in its owner's count; released once (releasing again does nothing,
    so every way a connection or subscription can end may release it)."""

    def __init__(self, slots: OwnerSlots, owner: str) -> None:
        self._slots = slots
        self._owner: str | None = owner

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            self._slots._release(owner)


class OwnerSlots:
    """Counted on one event loop's thread only: no lock needed."""

    def __init__(self, max_per_owner: int) -> None:
        assert max_per_owner >= 1, "an owner may hold a place"
        self.max_per_owner = max_per_owner
        self._held: dict[str, int] = {}

    def count(self, owner: str) -> int:
        return self._held.get(owner, 0)

    def claim(self, owner: str) -> Slot | None:
        """A place for `owner`; None if it holds `max_per_owner` already."""
        if self.count(owner) >= self.max_per_owner:
            return None
        self._held[owner] = self.count(owner) + 1
        return Slot(self, owner)

    def _release(self, owner: str) -> None:
        left = self._held.pop(owner) - 1
        if left:
            self._held[owner] = left
