"""ASGI middleware: request ids, body size limits, JSON-only bodies.

Plain ASGI (not BaseHTTPMiddleware) keeps the per-request cost low.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any, TypeGuard

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paysource.adapters.postgres.datastore import OutageGate
from paysource.application.deadlines import database_budget
from paysource.entrypoints.http.problems import database_down_response, problem_response

# A request id is echoed and stored in every event's meta: accepted only in a shape
# that cannot hold a card number, not scanned for one. A UUID (the usual request id;
# a card number pasted by mistake never has its shape), or 64 characters of letters,
# digits and `._-` that never put 12 digits in a row with only `._-` between them (a
# PAN has at least 13). Anything else is replaced by an id of ours.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DIGIT_RUN = re.compile(r"[0-9](?:[._-]*[0-9]){11}")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
# Routes whose body is a file the rails send, not JSON (docs/reconciliation.md).
CSV_PATHS = frozenset({"/v1/reconciliation/imports"})
MAX_JSON_DEPTH = 32


class RequestIdMiddleware:
    """Takes a sane `X-Request-Id` from the client or makes one; echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if is_safe_request_id(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


def is_safe_request_id(value: str | None) -> TypeGuard[str]:
    if not value:
        return False
    # fullmatch: `$` would let a trailing newline through.
    if _UUID.fullmatch(value):
        return True
    return bool(_REQUEST_ID.fullmatch(value) and not _DIGIT_RUN.search(value))


def new_request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


class OutageMiddleware:
    """While the database is known to be down, answer 503 at once (health probes
    excepted) instead of letting every request wait out the driver's retries; and give
    every request its database budget (application.deadlines)."""

    def __init__(self, app: ASGIApp, *, gate: OutageGate, budget_s: float = 2.0) -> None:
        self.app = app
        self.gate = gate
        self.budget_s = budget_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.gate.down and scope["path"] not in _PROBES:
            await database_down_response(Request(scope))(scope, receive, send)
            return
        with database_budget(self.budget_s):
            await self.app(scope, receive, send)


_PROBES = frozenset({"/healthz", "/readyz"})


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` (413), non-JSON media types (415), and JSON with
    duplicate keys or absurd nesting (400), before the app parses anything."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        problem = self._check_headers(scope)
        if problem is not None:
            await problem(scope, receive, send)
            return
        # Read the whole body first (it is small by definition), so a streamed body that
        # grows past the limit is refused before the app sees any of it.
        body = await self._read_limited(receive)
        if body is None:
            await self._too_large(Request(scope))(scope, receive, send)
            return
        csv_body = scope["path"] in CSV_PATHS
        if body and not csv_body and (trouble := json_trouble(body)) is not None:
            await problem_response(Request(scope), 400, "malformed_json", trouble)(
                scope, receive, send
            )
            return
        await self.app(scope, _replay(body), send)

    def _check_headers(self, scope: Scope) -> Any:
        request = Request(scope)
        length = _header(scope, b"content-length")
        if length is not None and not length.isdigit():
            return problem_response(request, 400, "bad_request", "Content-Length is not a number")
        if length is not None and int(length) > self.max_bytes:
            return self._too_large(request)
        media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        has_body = length not in (None, "0") or _header(scope, b"transfer-encoding") is not None
        expected = "text/csv" if scope["path"] in CSV_PATHS else "application/json"
        if has_body and media_type != expected:
            return problem_response(
                request, 415, "unsupported_media_type", f"send the body as {expected}"
            )
        return None

    def _too_large(self, request: Request) -> Any:
        return problem_response(
            request, 413, "payload_too_large", f"the body exceeds {self.max_bytes} bytes"
        )

    async def _read_limited(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _DuplicateKey
    return found


def _depth(value: Any) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            pending.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, level + 1) for child in item)
    return deepest


def json_trouble(body: bytes) -> str | None:
    """Why `body` is not JSON we accept, or None. Duplicate keys are refused because
    two parsers (a proxy and us) could each take a different value of one field."""
    try:
        document = json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKey:
        return "the body repeats a key in one object"
    except (ValueError, RecursionError):
        return "the body is not valid JSON"
    if _depth(document) > MAX_JSON_DEPTH:
        return f"the body nests deeper than {MAX_JSON_DEPTH} levels"
    return None


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
