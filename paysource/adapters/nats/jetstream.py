"""A cell's stream on NATS JetStream (nats-py), behind the `EventStream` port.

nats-py is asyncio; the relay runs in a worker thread. So the stream keeps its own event
loop and connection, created on first use in the thread that uses it (no client at
import or construction time), and each call runs to completion on that loop.

Appends are pipelined (`publish_async`, then all acknowledgements awaited), which keeps
the bus's round trips off the relay's critical path; order is still exact because each
message carries `Nats-Expected-Last-Msg-Id` = its predecessor's id: the stream refuses
a message whose predecessor is not its last one, so a lost message fails every message
after it instead of leaving a hole. `Nats-Msg-Id` lets the server's duplicate window
drop a retried message too, but the relay does not rely on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import Header, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from paysource.application.ports import RelayMessage

log = logging.getLogger(__name__)

T = TypeVar("T")
DUPLICATE_WINDOW_S = 120.0


async def _cancel_all() -> None:
    """Cancel the loop's other tasks (the client's readers and pingers) and let them end."""
    pending = asyncio.all_tasks() - {asyncio.current_task()}
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class JetStreamStream:
    """The stream `name`, holding subjects `paysource.<cell>.>`, made if missing."""

    def __init__(
        self, servers: list[str], name: str, cell: str, *, replicas: int, timeout_s: float
    ) -> None:
        self.servers = servers
        self.name = name
        self.subjects = [f"paysource.{cell}.>"]
        self.replicas = replicas
        self.timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    # The port ---------------------------------------------------------------------------

    def last_msg_id(self) -> str | None:
        return self._run(self._last_msg_id())

    def append(self, messages: list[RelayMessage], *, after: str | None) -> None:
        self._run(self._append(messages, after))

    def close(self) -> None:
        """Close the connection and the loop, with every task of the client finished
        first (a task left behind would be collected from a closed loop)."""
        loop = self._loop
        if loop is None:
            return
        try:
            if self._nc is not None and not self._nc.is_closed:
                loop.run_until_complete(asyncio.wait_for(self._nc.close(), self.timeout_s))
        except Exception:  # closing after the bus went away: nothing to keep
            log.warning("could not close the NATS connection cleanly", exc_info=True)
        finally:
            loop.run_until_complete(_cancel_all())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop, self._nc, self._js = None, None, None

    # Inside the loop --------------------------------------------------------------------

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)  # this thread's loop, for nats-py's internals
        return self._loop.run_until_complete(asyncio.wait_for(work, self.timeout_s * 4))

    async def _stream(self) -> JetStreamContext:
        if self._js is None:
            self._nc = await nats.connect(
                servers=self.servers,
                connect_timeout=max(1, int(self.timeout_s)),
                reconnect_time_wait=1,
                max_reconnect_attempts=-1,  # a bus node down is a wait, not an end
                name="paysource-relay",
            )
            js = self._nc.jetstream(timeout=self.timeout_s)
            await self._ensure(js)
            self._js = js
        return self._js

    async def _ensure(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.name)
        except NotFoundError:
            config = StreamConfig(
                name=self.name,
                subjects=self.subjects,
                num_replicas=self.replicas,
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
            )
            await js.add_stream(config)
            log.info("made JetStream stream %s (%d replicas)", self.name, self.replicas)

    async def _last_msg_id(self) -> str | None:
        js = await self._stream()
        info = await js.stream_info(self.name)
        last = info.state.last_seq
        if not last:
            return None
        found = await js.get_msg(self.name, seq=last)
        headers = found.headers or {}
        msg_id = headers.get(Header.MSG_ID.value)
        return str(msg_id) if msg_id is not None else None

    async def _append(self, messages: list[RelayMessage], after: str | None) -> None:
        js = await self._stream()
        acks = []
        previous = after
        for message in messages:
            headers = {Header.MSG_ID.value: message.msg_id}
            if previous is not None:
                headers[Header.EXPECTED_LAST_MSG_ID.value] = previous
            acks.append(await js.publish_async(message.subject, message.body, headers=headers))
            previous = message.msg_id
        await asyncio.wait_for(asyncio.gather(*acks), self.timeout_s)
