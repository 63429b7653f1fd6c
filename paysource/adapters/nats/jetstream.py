"""A cell's stream on NATS JetStream (nats-py), behind the `EventStream` port.

nats-py is asyncio; the relay runs in a worker thread. So the stream keeps its own event
loop and connection, created on first use in the thread that uses it (no client at
import or construction time), and each call runs to completion on that loop.

A batch's first message is acknowledged before the rest are pipelined (`publish_async`,
then all acknowledgements awaited), which keeps the bus's round trips off the relay's
critical path but one per batch; order is still exact because each message carries
`Nats-Expected-Last-Msg-Id` = its predecessor's id: the stream refuses a message whose
predecessor is not its last one, so a lost message fails every message after it instead
of leaving a hole. A server restarted after a quiet spell longer than the duplicate
window has forgotten the last msg id and refuses every one; the first message then
expects the stream's last sequence instead, once its message is checked to be the
predecessor (`_append_first`). `Nats-Msg-Id` lets the server's duplicate window drop a
retried message too, but the relay does not rely on it.
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
from nats.js.errors import APIError, NotFoundError

from paysource.application.ports import RelayMessage

log = logging.getLogger(__name__)

T = TypeVar("T")
DUPLICATE_WINDOW_S = 120.0
WRONG_LAST_MSG_ID = 10070  # JSStreamWrongLastMsgIDErrF


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

    async def _last(self, js: JetStreamContext) -> tuple[int, str | None]:
        """The stream's last sequence (0: empty) and that message's id."""
        info = await js.stream_info(self.name)
        last = info.state.last_seq
        if not last:
            return 0, None
        found = await js.get_msg(self.name, seq=last)
        msg_id = (found.headers or {}).get(Header.MSG_ID.value)
        return last, str(msg_id) if msg_id is not None else None

    async def _last_msg_id(self) -> str | None:
        return (await self._last(await self._stream()))[1]

    async def _append(self, messages: list[RelayMessage], after: str | None) -> None:
        if not messages:
            return
        js = await self._stream()
        first, rest = messages[0], messages[1:]
        await self._append_first(js, first, after)
        acks = []
        previous = first.msg_id
        for message in rest:
            headers = {
                Header.MSG_ID.value: message.msg_id,
                Header.EXPECTED_LAST_MSG_ID.value: previous,
            }
            acks.append(await js.publish_async(message.subject, message.body, headers=headers))
            previous = message.msg_id
        await asyncio.wait_for(asyncio.gather(*acks), self.timeout_s)

    async def _append_first(
        self, js: JetStreamContext, message: RelayMessage, after: str | None
    ) -> None:
        """The batch's first message, acknowledged before the rest are sent: its refusal
        must be seen (nats-py leaves a refused `publish_async` unanswered) because one
        refusal is not the relay's fault. The server restores the stream's last msg id
        on a restart only if that message is inside the duplicate window, so after a
        quiet spell and a restart it refuses every expected msg id (10070). Then the
        stream's real last message is read: if it is `after`, the message is sent again
        expecting that message's sequence, which is as strict (a message appended in
        between changes it); if not, the refusal stands and the relay asks again."""
        headers = {Header.MSG_ID.value: message.msg_id}
        if after is None:
            await js.publish(message.subject, message.body, headers=headers)
            return
        try:
            await js.publish(
                message.subject,
                message.body,
                headers={**headers, Header.EXPECTED_LAST_MSG_ID.value: after},
            )
            return
        except APIError as refused:
            if refused.err_code != WRONG_LAST_MSG_ID:
                raise
            last_seq, last_id = await self._last(js)
            if last_id != after:
                raise
        log.warning(
            "stream %s forgot its last msg id %s (a restart after a quiet spell longer than "
            "the duplicate window); appending after its sequence %d instead",
            self.name,
            after,
            last_seq,
        )
        await js.publish(
            message.subject,
            message.body,
            headers={**headers, Header.EXPECTED_LAST_SEQUENCE.value: str(last_seq)},
        )
