"""Request dependencies: who is calling, in which cell, with which request context.

Authorization happens here once, not in each route: a route that needs a merchant
asks for `MerchantCallDep`; ownership of objects is checked by the services, which
answer 404 for another merchant's id. Dependencies that do no I/O are `async`, so
FastAPI does not hand each of them to a thread.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from paysource import logs
from paysource.application.auth import Principal
from paysource.application.errors import Unauthenticated
from paysource.application.fastpath import Answer, FastPath
from paysource.application.ids import Kind, encode_optional
from paysource.bootstrap import Cell, Container
from paysource.domain.api_key import Role
from paysource.domain.idempotency import check_idempotency_key, key_digest
from paysource.domain.meta import KeyDigest, Meta
from paysource.entrypoints.http import rate_limit
from paysource.entrypoints.http.problems import Problem
from paysource.entrypoints.http.rate_limit import merchant_bucket

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
# Preference names are case-insensitive (RFC 7240); the value is ASCII digits.
_PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait\s*=\s*([0-9]{1,4})(?:$|[;,\s])", re.IGNORECASE)


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_fast_path(request: Request) -> FastPath:
    fast_path: FastPath = request.app.state.fast_path
    return fast_path


FastPathDep = Annotated[FastPath, Depends(get_fast_path)]


def get_principal(
    container: ContainerDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    principal = container.authenticator.authenticate(_bearer(authorization))
    _bind(principal)
    _rate_limit(container, principal)
    return principal


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send your API key as 'Authorization: Bearer <key>'")
    return token.strip()


def _bind(principal: Principal) -> None:
    logs.bind(
        merchant=encode_optional(Kind.MERCHANT, principal.merchant_id),
        api_key=encode_optional(Kind.API_KEY, principal.key_id),
    )


def _rate_limit(container: Container, principal: Principal) -> None:
    """A merchant's keys share its window (and GraphQL's); a staff key has its own."""
    merchant_id = principal.merchant_id
    if merchant_id is not None:
        bucket = merchant_bucket(merchant_id)
    else:
        bucket = f"rate:{principal.key_id or principal.role}"
    rate_limit.enforce(container, [bucket], merchant_id)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: CurrentPrincipal) -> Principal:
    principal.require(Role.ADMIN)
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


def readable_cells(principal: Principal, container: Container) -> list[Cell]:
    """A merchant reads in its own cell; staff roles read across all cells."""
    if principal.merchant_id is not None:
        return [container.router.for_merchant(principal.merchant_id)]
    return container.router.all()


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    traceparent: str | None
    idempotency_key: str | None
    prefer_wait_s: int

    def meta(self, principal: Principal, container: Container) -> Meta:
        return Meta(
            principal.actor,
            principal.actor_id,
            request_id=self.request_id,
            idempotency_key_hmac=digest_of(self.idempotency_key, container),
            traceparent=self.traceparent,
            at=container.clock.now(),
        )


def digest_of(key: str | None, container: Container) -> KeyDigest | None:
    """What may be stored of a key (events, Redis): its keyed hash, never the key."""
    secret = container.settings.idempotency_key_hmac_secret
    return None if key is None else key_digest(key, secret)


async def get_context(
    request: Request,
    container: ContainerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    traceparent: Annotated[str | None, Header()] = None,
    prefer: Annotated[str | None, Header()] = None,
) -> RequestContext:
    if len(request.headers.getlist("idempotency-key")) > 1:
        raise Problem(400, "bad_request", "send one Idempotency-Key header, not several")
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    wait_s = 0
    if prefer and (match := _PREFER_WAIT.search(prefer)):
        wait_s = min(int(match.group(1)), container.settings.prefer_wait_max_s)
    return RequestContext(
        request_id=request.state.request_id,
        traceparent=_traceparent(request, traceparent),
        idempotency_key=idempotency_key,
        prefer_wait_s=wait_s,
    )


def _traceparent(request: Request, sent: str | None) -> str | None:
    """The request span's (made by the observability middleware, so every event gets
    one); without that middleware, the client's if well-formed."""
    made: str | None = getattr(request.state, "traceparent", None)
    return made or (sent if sent and _TRACEPARENT.match(sent) else None)


Context = Annotated[RequestContext, Depends(get_context)]


def required_key(context: RequestContext) -> str:
    if context.idempotency_key is None:
        raise Problem(
            400,
            "idempotency_key_required",
            "this request moves money: send an Idempotency-Key header (e.g. a UUID) and "
            "reuse it when you retry",
        )
    return context.idempotency_key


@dataclass(frozen=True, slots=True)
class Call:
    """Everything a route needs about the request it serves."""

    principal: Principal
    container: Container
    context: RequestContext
    fast_path: FastPath

    @property
    def meta(self) -> Meta:
        return self.context.meta(self.principal, self.container)

    @property
    def cells(self) -> list[Cell]:
        return readable_cells(self.principal, self.container)


async def get_call(
    principal: CurrentPrincipal, container: ContainerDep, context: Context, fast_path: FastPathDep
) -> Call:
    return Call(principal, container, context, fast_path)


@dataclass(frozen=True, slots=True)
class MerchantCall(Call):
    """A call made with a merchant key, in that merchant's cell."""

    merchant_id: UUID
    cell: Cell

    def answer(
        self,
        request_hash: str,
        command: Callable[[], Answer],
        *,
        key: str | None = None,
        hold_s: int = 0,
        keep_body: bool = True,
    ) -> Answer:
        """Run `command` under the request's Idempotency-Key (if any), via the fast path
        (`hold_s`, `keep_body`: see `FastPath.answer`)."""
        return self.fast_path.answer(
            scope=str(self.merchant_id),
            key=digest_of(key or self.context.idempotency_key, self.container),
            request_hash=request_hash,
            command=command,
            hold_s=hold_s,
            keep_body=keep_body,
        )


async def cell_of(container: Container, merchant_id: UUID, *, write: bool) -> Cell:
    """The merchant's cell, from this second's placement, else looked up in a thread
    (the directory may be slow or down: never on the event loop)."""
    router = container.router
    cell = router.known(merchant_id, write=write)
    if cell is not None:
        return cell
    return await run_in_threadpool(router.for_write if write else router.for_merchant, merchant_id)


async def get_merchant_call(
    request: Request, call: Annotated[Call, Depends(get_call)]
) -> MerchantCall:
    merchant_id = call.principal.require_merchant()
    # Reads continue from the source cell while the merchant is being moved; writes
    # wait for the switch (503 + Retry-After).
    writing = request.method not in ("GET", "HEAD")
    cell = await cell_of(call.container, merchant_id, write=writing)
    return MerchantCall(
        call.principal, call.container, call.context, call.fast_path, merchant_id, cell
    )


AnyCall = Annotated[Call, Depends(get_call)]
MerchantCallDep = Annotated[MerchantCall, Depends(get_merchant_call)]


@dataclass(frozen=True, slots=True)
class MerchantCommand(MerchantCall):
    """A merchant's command on the lean path (`MerchantCommandDep`): its rate limit is
    counted by `answer`, in the same Redis round trip as its idempotency claim."""

    def answer(
        self,
        request_hash: str,
        command: Callable[[], Answer],
        *,
        key: str | None = None,
        hold_s: int = 0,
        keep_body: bool = True,
    ) -> Answer:
        digest = digest_of(key or self.context.idempotency_key, self.container)
        bucket = merchant_bucket(self.merchant_id)
        if digest is None or self.container.cache is None:
            rate_limit.enforce(self.container, [bucket], self.merchant_id)
        return self.fast_path.answer(
            scope=str(self.merchant_id),
            key=digest,
            request_hash=request_hash,
            command=command,
            hold_s=hold_s,
            keep_body=keep_body,
            counters=[bucket],
            admit=lambda counts: rate_limit.refuse_over(self.container, counts, self.merchant_id),
        )

    async def answer_async(
        self,
        request_hash: str,
        command: Callable[[], Answer],
        awaiting: Callable[[], Awaitable[Answer]],
        recorded: Callable[[], Awaitable[Answer | None]],
        *,
        key: str,
    ) -> Answer:
        """`answer` on the event loop: Redis awaited, the command `awaiting` (which may
        itself hand over to a thread), a retry answered by `recorded` (Postgres; see
        FastPath.answer_async). Without Redis, `answer` with `command`, in a thread: the
        rate limit and the claim are then Postgres's."""
        digest = digest_of(key, self.container)
        if digest is None or self.container.cache is None:
            return await run_in_threadpool(self.answer, request_hash, command, key=key)

        async def admit(counts: Sequence[int | None]) -> None:
            await rate_limit.refuse_over_async(self.container, counts, self.merchant_id)

        return await self.fast_path.answer_async(
            scope=str(self.merchant_id),
            key=digest,
            request_hash=request_hash,
            command=awaiting,
            recorded=recorded,
            counters=[merchant_bucket(self.merchant_id)],
            admit=admit,
        )


async def get_merchant_command(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    traceparent: Annotated[str | None, Header()] = None,
    prefer: Annotated[str | None, Header()] = None,
) -> MerchantCommand:
    """Everything a merchant's command needs, in one dependency on the event loop: the
    same headers and checks as `MerchantCallDep`, but no thread for a key seen in the
    last minute, and the rate limit left to `answer` (which runs in a thread anyway).
    The profile of POST /v1/payments had FastAPI solving seven dependencies, a thread
    hop and a Redis round trip here: a third of the API's CPU (bench/README.md)."""
    container: Container = request.app.state.container
    token = _bearer(authorization)
    principal = container.authenticator.cached(token)
    if principal is None:
        principal = await run_in_threadpool(container.authenticator.authenticate, token)
    _bind(principal)
    context = await get_context(request, container, idempotency_key, traceparent, prefer)
    merchant_id = principal.require_merchant()
    return MerchantCommand(
        principal,
        container,
        context,
        request.app.state.fast_path,
        merchant_id,
        await cell_of(container, merchant_id, write=True),  # 503 while it is moving
    )


MerchantCommandDep = Annotated[MerchantCommand, Depends(get_merchant_command)]
