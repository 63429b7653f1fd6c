"""Redis pub/sub publishing for the payment notifier."""

from __future__ import annotations

from collections.abc import Sequence

import redis


class RedisChannels:
    """Publishing through its own client: errors must raise (and stop the notifier's
    batch), not fail soft as the idempotency cache does."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.Redis.from_url(
            redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
        )

    def publish(self, messages: Sequence[tuple[str, bytes]]) -> None:
        # One round trip for a follower batch: one per message was 6% of the worker's
        # CPU on a drained backlog (bench/README.md). Not MULTI: order is all we need.
        pipeline = self._client.pipeline(transaction=False)
        for name, message in messages:
            pipeline.publish(name, message)
        pipeline.execute()

    def listened(self, channels: Sequence[str]) -> set[str]:
        """Those of `channels` with a subscriber now: one `PUBSUB NUMSUB` for a batch."""
        if not channels:
            return set()
        counts = self._client.pubsub_numsub(*channels)
        return {_text(name) for name, count in counts if count}


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name
