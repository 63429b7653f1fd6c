"""Errors as RFC 9457 problem details, each with a stable `type`.

The `type` is `https://paysource.dev/problems/<code>`, where `<code>` is the error's
stable code (see docs/api.md for the list). Clients branch on `type`, people read
`detail`. Only bugs become 500 `internal_error`, and their details stay in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from paysource.application.errors import (
    ConcurrentModification,
    Forbidden,
    IdempotencyKeyReused,
    MerchantMoving,
    NotFound,
    ReadModelBehind,
    RequestInFlight,
    SubjectErased,
    Unauthenticated,
    Unavailable,
)
from paysource.application.ids import Kind, encode
from paysource.application.redaction import redact
from paysource.application.settlements import NothingToSettle, RateUnavailable
from paysource.domain.errors import (
    AmountExceeded,
    CurrencyMismatch,
    IllegalTransition,
    InvalidValue,
    PaysourceError,
)

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://paysource.dev/problems/"
MEDIA_TYPE = "application/problem+json"

_STATUS: list[tuple[type[PaysourceError], int]] = [
    (NotFound, 404),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (IdempotencyKeyReused, 422),
    (RequestInFlight, 409),
    (ConcurrentModification, 409),
    (SubjectErased, 409),
    (Unavailable, 503),
    (ReadModelBehind, 503),
    (MerchantMoving, 503),
    (NothingToSettle, 422),
    (RateUnavailable, 409),
    (IllegalTransition, 409),
    (AmountExceeded, 422),
    (CurrencyMismatch, 422),
    (InvalidValue, 422),
]

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """An error raised by the HTTP layer itself (headers, media types, limits)."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": redact(detail),
    }
    headers = dict(headers or {})
    if request is not None:
        if redact(request.url.path) == request.url.path:  # no card number, no credential
            body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
            # Errors answered outside the request-id middleware (500s) carry it too.
            headers.setdefault("X-Request-Id", request_id)
    body.update({name: _redacted(value) for name, value in extra.items()})
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _redacted(value: Any) -> Any:
    """`value` (an extra member: field errors, parameter names) with its text redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {name: _redacted(item) for name, item in value.items()}
    return value


def status_of(error: PaysourceError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


async def on_paysource_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, PaysourceError)
    status = status_of(error)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    retry_after = getattr(error, "retry_after_s", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, Unavailable):
        _report_outage(request)
    if isinstance(error, RateUnavailable):
        # Where the waiting settlement is, and which rate it waits for.
        extra["settlement"] = encode(Kind.SETTLEMENT, error.settlement)
        extra["pair"] = error.pair
    field = getattr(error, "field", None)
    if field:
        extra["errors"] = [{"field": field, "message": error.detail}]
    return problem_response(request, status, error.code, error.detail, headers=headers, **extra)


async def on_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    headers = (
        {"Retry-After": str(error.extra.pop("retry_after_s"))}
        if ("retry_after_s" in error.extra)
        else None
    )
    return problem_response(
        request, error.status, error.code, error.detail, headers=headers, **error.extra
    )


def _field_errors(error: RequestValidationError) -> list[dict[str, str]]:
    # Never echo the input back: it may hold what the client should not have sent.
    found = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        found.append({"field": ".".join(location) or "body", "message": str(item.get("msg"))})
    return found


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    kinds = {item.get("type") for item in error.errors()}
    if "json_invalid" in kinds:
        return problem_response(request, 400, "malformed_json", "the body is not valid JSON")
    if "nul_character" in kinds:
        return problem_response(
            request, 422, "validation_error", "text must not contain NUL (\\u0000) characters"
        )
    if "card_number" in kinds:
        return problem_response(
            request,
            422,
            "card_number_refused",
            "card numbers are never accepted: send a card token as `source`",
            errors=_field_errors(error),
        )
    fields = _field_errors(error)
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in fields[:5])
    return problem_response(request, 422, "validation_error", detail, errors=fields)


async def on_http_exception(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    # FastAPI answers 400 when it cannot decode a body our middleware let through.
    codes = {400: "malformed_json", 404: "not_found", 405: "method_not_allowed"}
    code = codes.get(error.status_code, "http_error")
    detail = error.detail if isinstance(error.detail, str) else "request failed"
    if error.status_code == 404:
        detail = "no such resource"
    elif error.status_code == 400:
        detail = "the body is not valid JSON"
    return problem_response(
        request, error.status_code, code, detail, headers=dict(error.headers or {})
    )


UNAVAILABLE_DETAIL = (
    "the database is unavailable; retry shortly (retries with the same Idempotency-Key are safe)"
)


def database_down_response(request: Request) -> JSONResponse:
    return problem_response(
        request, 503, "service_unavailable", UNAVAILABLE_DETAIL, headers={"Retry-After": "2"}
    )


async def on_database_down(request: Request, error: Exception) -> JSONResponse:
    # A warning, not a traceback per request: the outage is one fact, said by /readyz too.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, error)
    _report_outage(request)
    return database_down_response(request)


def _report_outage(request: Request) -> None:
    container = getattr(request.app.state, "container", None)
    if container is not None and container.gate is not None:
        container.gate.report()


async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(
        request, 500, "internal_error", "an unexpected error occurred; it has been logged"
    )
