"""Subscribers' side of live updates: payments' channels on Redis pub/sub.

The worker's PaymentNotifier publishes; any API process listens, so a client sees
updates whichever process holds its websocket. A process holds **one** pub/sub
connection, whatever the number of subscriptions: one reader task takes every
message off it and hands it to the in-memory queue of each subscriber of its
channel (SUBSCRIBE when a channel gets its first subscriber, UNSUBSCRIBE when it
loses its last). Subscriptions are capped per owner (a merchant, or a staff key)
in this process, so no one can take every slot. Nothing connects at import time:
the connection opens with the first subscription and closes with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from paysource.application.errors import TooManySubscriptions
from paysource.application.owner_slots import OwnerSlots
from paysource.processes.notifier import PaymentChanged, channel

log = logging.getLogger(__name__)

# Open subscriptions of one owner (a merchant with all its credentials, or a staff
# key) in one process.
MAX_SUBSCRIPTIONS_PER_OWNER = 500
# Changes waiting for a slow subscriber; past that the oldest are dropped (each
# change names a version and the subscriber shows the payment at the newest).
QUEUE_SIZE = 32
# How long a new subscriber waits for Redis to confirm its SUBSCRIBE.
CONFIRM_TIMEOUT_S = 5.0
# How long the reader waits for a message before looking around (closing, a new loop).
READ_TIMEOUT_S = 1.0


class PaymentFeed:
    def __init__(
        self, redis_url: str | None, *, max_per_owner: int = MAX_SUBSCRIPTIONS_PER_OWNER
    ) -> None:
        self._url = redis_url
        self._owners = OwnerSlots(max_per_owner)  # counted as open websockets are
        self._client: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._subscribers: dict[bytes, set[asyncio.Queue[PaymentChanged]]] = defaultdict(set)
        # Per channel, one waiter per SUBSCRIBE sent, confirmed in the order sent.
        self._confirmations: dict[bytes, deque[asyncio.Future[None]]] = defaultdict(deque)

    @property
    def live(self) -> bool:
        return self._url is not None

    @property
    def max_per_owner(self) -> int:
        return self._owners.max_per_owner

    @max_per_owner.setter
    def max_per_owner(self, value: int) -> None:
        self._owners.max_per_owner = value

    def count(self, owner: str) -> int:
        """Open subscriptions of `owner` in this process."""
        return self._owners.count(owner)

    def changes(
        self, payment_id: UUID, *, owner: str
    ) -> AbstractAsyncContextManager[AsyncIterator[PaymentChanged]]:
        """One payment's changes (see `changes_on`)."""
        return self.changes_on(channel(payment_id), owner=owner)

    @asynccontextmanager
    async def changes_on(
        self, channel_name: str, *, owner: str
    ) -> AsyncIterator[AsyncIterator[PaymentChanged]]:
        """The changes published on `channel_name`, subscribed (and confirmed by Redis)
        on entry, so nothing published after entry is missed. TooManySubscriptions past
        the owner's cap."""
        assert self._url is not None, "live updates need Redis (PAYSOURCE_REDIS_URL)"
        self._same_loop()
        slot = self._owners.claim(owner)
        if slot is None:
            raise TooManySubscriptions(self.max_per_owner)
        queue: asyncio.Queue[PaymentChanged] = asyncio.Queue(maxsize=QUEUE_SIZE)
        name = channel_name.encode()
        try:
            await self._add(name, queue)
            yield _drain(queue)
        finally:
            slot.release()
            await self._remove(name, queue)

    async def _add(self, name: bytes, queue: asyncio.Queue[PaymentChanged]) -> None:
        confirmed: asyncio.Future[None] | None = None
        async with self._lock:
            first = not self._subscribers[name]
            self._subscribers[name].add(queue)
            if first:
                confirmed = asyncio.get_running_loop().create_future()
                self._confirmations[name].append(confirmed)
                pubsub = await self._connected()
                await pubsub.subscribe(name)
                self._start_reader()
        if confirmed is not None:
            try:
                await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_TIMEOUT_S)
            except TimeoutError:
                log.warning("graphql: no SUBSCRIBE confirmation for %s yet", name.decode())

    async def _remove(self, name: bytes, queue: asyncio.Queue[PaymentChanged]) -> None:
        async with self._lock:
            subscribers = self._subscribers.get(name)
            if subscribers is None:
                return
            subscribers.discard(queue)
            if subscribers:
                return
            del self._subscribers[name]
            if self._pubsub is not None:
                with contextlib.suppress(Exception):  # the reader resubscribes what is left
                    await self._pubsub.unsubscribe(name)

    async def _connected(self) -> PubSub:
        if self._pubsub is None:
            assert self._url is not None
            self._client = aioredis.Redis.from_url(self._url, socket_connect_timeout=2.0)
            self._pubsub = self._client.pubsub()
        return self._pubsub

    def _start_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        """Take every message off the one connection; hand each to its subscribers."""
        while self._pubsub is not None:
            try:
                message = await self._pubsub.get_message(timeout=READ_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarting: redis-py reconnects and resubscribes
                log.warning("graphql: reading live updates failed; retrying", exc_info=True)
                await asyncio.sleep(READ_TIMEOUT_S)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind, name = message.get("type"), message.get("channel")
        if not isinstance(name, bytes):
            return
        if kind == "subscribe":
            waiters = self._confirmations.get(name)
            if waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                if not waiters:
                    del self._confirmations[name]
            return
        subscribers = self._subscribers.get(name)
        if kind != "message" or not subscribers:
            return
        try:
            change = PaymentChanged.decode(message["data"])
        except Exception:  # one bad message must not stop everyone's updates
            log.warning("graphql: dropped an unreadable live update", exc_info=True)
            return
        for queue in list(subscribers):
            if queue.full():
                queue.get_nowait()  # the newest change names the newest version
            queue.put_nowait(change)

    def _same_loop(self) -> None:
        """State belongs to one event loop; a new loop (a new test client) starts over."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._client = self._pubsub = self._reader = None
            self._lock = asyncio.Lock()
            self._subscribers.clear()
            self._confirmations.clear()
            # A new count: a slot of the old loop released late frees nothing here.
            self._owners = OwnerSlots(self.max_per_owner)

    async def close(self) -> None:
        reader, pubsub, client = self._reader, self._pubsub, self._client
        self._reader = self._pubsub = self._client = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
        if client is not None:
            await client.aclose()


async def _drain(queue: asyncio.Queue[PaymentChanged]) -> AsyncIterator[PaymentChanged]:
    while True:
        yield await queue.get()
