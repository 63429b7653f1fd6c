"""The per-request context: who is calling, their loaders, and what commands need.

The getter is async and does no blocking work on the event loop; a POST without a
valid credential is refused with 401 before GraphQL parses anything. Subscriptions
authenticate at `connection_init` (its payload), then for each operation
(websocket.py).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from uuid import UUID

from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from paysource import logs
from paysource.adapters.postgres.reads import ReadDb
from paysource.adapters.redis.feed import PaymentFeed
from paysource.application.fastpath import FastPath
from paysource.application.ids import Kind, encode_optional
from paysource.application.owner_slots import Slot
from paysource.application.tokens import TokenIssuer
from paysource.bootstrap import Container
from paysource.domain.idempotency import key_digest
from paysource.domain.meta import KeyDigest, Meta
from paysource.entrypoints.http.graphql.auth import authenticate
from paysource.entrypoints.http.graphql.loaders import Loaders
from paysource.entrypoints.http.graphql.policy import Access
from paysource.entrypoints.http.graphql.reads import Reads

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@dataclass
class Services:
    """What the GraphQL endpoint of one app shares across requests."""

    container: Container
    db: ReadDb
    tokens: TokenIssuer
    fast_path: FastPath
    feed: PaymentFeed


class Context(BaseContext):
    def __init__(
        self, services: Services, access: Access | None, *, request_id: str, traceparent: str | None
    ) -> None:
        super().__init__()
        self.services = services
        self.request_id = request_id
        self.traceparent = traceparent
        self._access: Access | None = None
        self._loaders: Loaders | None = None
        # A websocket's `Authorization`, verified again for each operation it starts.
        self.credential: str | None = None
        # A websocket's place in its owner's open connections, freed when it ends.
        self.slot: Slot | None = None
        if access is not None:
            self.grant(access)

    @property
    def over_websocket(self) -> bool:
        return self.request is not None and self.request.scope["type"] == "websocket"

    @property
    def container(self) -> Container:
        return self.services.container

    def grant(self, access: Access) -> None:
        self._access = access
        self.fresh_loaders()

    def fresh_loaders(self) -> None:
        """New loaders (an empty cache): per request, and per subscription event."""
        assert self._access is not None
        self._loaders = Loaders(Reads(self.services.db, self.container, self._access))

    @property
    def access(self) -> Access:
        if self._access is None:
            # GET (the IDE) and unacknowledged websockets carry no caller; they never
            # execute operations, so reaching this is a bug.
            raise GraphQLError("authentication required", extensions={"code": "unauthenticated"})
        return self._access

    @property
    def loaders(self) -> Loaders:
        self.access  # noqa: B018  # raises when unauthenticated
        assert self._loaders is not None
        return self._loaders

    def digest(self, key: str | None) -> KeyDigest | None:
        """What may be stored of a key (events, Redis): its keyed hash, never the key."""
        secret = self.container.settings.idempotency_key_hmac_secret
        return None if key is None else key_digest(key, secret)

    def meta(self, *, idempotency_key: str | None) -> Meta:
        principal = self.access.principal
        return Meta(
            principal.actor,
            principal.actor_id,
            request_id=self.request_id,
            idempotency_key_hmac=self.digest(idempotency_key),
            traceparent=self.traceparent,
            at=self.container.clock.now(),
        )


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.graphql
    return services


async def get_context(connection: HTTPConnection) -> Context:
    services = services_of(connection)
    request_id = connection.scope.get("state", {}).get("request_id") or (
        f"req_{secrets.token_hex(12)}"
    )
    access = None
    authorization = connection.headers.get("authorization")
    is_post = connection.scope["type"] == "http" and connection.scope["method"] == "POST"
    if is_post or (authorization and connection.scope["type"] == "http"):
        access = await authenticate(services.container, services.tokens, authorization)
        logs.bind(merchant=encode_optional(Kind.MERCHANT, access.principal.merchant_id))
        await _placed(services, access.principal.merchant_id)
    # The request span's (every event gets one), else the client's if well-formed.
    made = connection.scope.get("state", {}).get("traceparent")
    traceparent = made or _sane(connection.headers.get("traceparent"))
    return Context(services, access, request_id=request_id, traceparent=traceparent)


async def _placed(services: Services, merchant_id: UUID | None) -> None:
    """Look the merchant's cell up in a thread when this second's placement is gone, so
    the resolvers (on the event loop) that route its reads and writes find it in
    memory: the directory may be slow or down."""
    router = services.container.router
    if merchant_id is not None and router.known(merchant_id, write=False) is None:
        await run_in_threadpool(router.for_merchant, merchant_id)


def _sane(traceparent: str | None) -> str | None:
    return traceparent if traceparent and _TRACEPARENT.match(traceparent) else None
