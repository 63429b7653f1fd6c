"""Redis pub/sub publishing for the payment notifier."""

from __future__ import annotations

import redis

from paysource.application.ports import Publish


def redis_publisher(redis_url: str) -> Publish:
    """Publishing through its own client: errors must raise (and stop the notifier's
    batch), not fail soft as the idempotency cache does."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    return client.publish
