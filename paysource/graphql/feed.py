"""Subscribers' side of live updates: a payment's channel on Redis pub/sub.

The worker's PaymentNotifier publishes; any API process listens, so a client sees
updates whichever process holds its websocket. The client connects lazily and is
closed with the app: nothing connects at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from paysource.application.notifier import PaymentChanged, channel


class PaymentFeed:
    def __init__(self, redis_url: str | None) -> None:
        self._url = redis_url
        self._client: aioredis.Redis | None = None

    @property
    def live(self) -> bool:
        return self._url is not None

    @asynccontextmanager
    async def changes(self, payment_id: UUID) -> AsyncIterator[AsyncIterator[PaymentChanged]]:
        """Subscribed on entry, so nothing published after entry is missed."""
        pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel(payment_id))
        try:
            yield _messages(pubsub)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _redis(self) -> aioredis.Redis:
        assert self._url is not None, "live updates need Redis (PAYSOURCE_REDIS_URL)"
        if self._client is None:
            self._client = aioredis.Redis.from_url(self._url, socket_connect_timeout=2.0)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _messages(pubsub: PubSub) -> AsyncIterator[PaymentChanged]:
    async for message in pubsub.listen():
        if message.get("type") == "message":
            yield PaymentChanged.decode(message["data"])
