"""Open websockets per owner in this process, each holding a slot until it ends.

An authenticated connection costs a watchdog task and memory while idle, and opening
one counts once against the rate limit: without a cap a key could pile up idle
connections. The owner is the subscription quota's (subscriptions.owner): a merchant
with all its keys and tokens, or a staff key.
"""

from __future__ import annotations

from collections import defaultdict


class TooManyConnections(Exception):
    """The owner already holds as many open websockets in this process as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Too many open connections ({limit} at most for one merchant or key)")
        self.limit = limit


class Slot:
    """One open connection's place in its owner's count; released once."""

    def __init__(self, connections: OpenConnections, owner: str) -> None:
        self._connections = connections
        self._owner: str | None = owner

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            self._connections.release(owner)


class OpenConnections:
    """Counts on the event loop's thread only: no lock needed."""

    def __init__(self, max_per_owner: int) -> None:  # PAYSOURCE_MAX_WEBSOCKETS_PER_OWNER
        assert max_per_owner >= 1, "an owner may open a connection"
        self.max_per_owner = max_per_owner
        self._open: dict[str, int] = defaultdict(int)

    def count(self, owner: str) -> int:
        return self._open.get(owner, 0)

    def claim(self, owner: str) -> Slot:
        """A slot for one more connection of `owner`; TooManyConnections past the cap."""
        if self.count(owner) >= self.max_per_owner:
            raise TooManyConnections(self.max_per_owner)
        self._open[owner] += 1
        return Slot(self, owner)

    def release(self, owner: str) -> None:
        self._open[owner] -= 1
        if self._open[owner] <= 0:
            del self._open[owner]
