"""Redis pub/sub publishing for the payment notifier."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from paysource.application.ports import Publish


def redis_publisher(redis_url: str) -> Publish:
    """Publishing through its own client: errors must raise (and stop the notifier's
    batch), not fail soft as the idempotency cache does."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)

    def publish(messages: Sequence[tuple[str, bytes]]) -> None:
        # One round trip for a follower batch: one per message was 6% of the worker's
        # CPU on a drained backlog (bench/README.md). Not MULTI: order is all we need.
        pipeline = client.pipeline(transaction=False)
        for name, message in messages:
            pipeline.publish(name, message)
        pipeline.execute()

    return publish
