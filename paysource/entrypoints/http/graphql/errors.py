"""Expected failures are data: typed members of a result union, never `errors`.

Every error type implements `Error { code message }`; `code` is the same stable code
as the REST problem `type` (docs/api.md). The GraphQL `errors` list is left for
requests the server cannot run at all (invalid documents, limits) and for bugs.
"""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from pydantic import ValidationError as PydanticValidationError

from paysource.application.errors import (
    ConcurrentModification,
    Forbidden,
    IdempotencyKeyReused,
    MerchantMoving,
    NotFound,
    ReadModelBehind,
    RequestInFlight,
    Unavailable,
)
from paysource.application.redaction import redact
from paysource.domain.errors import (
    AmountExceeded,
    CurrencyMismatch,
    IllegalTransition,
    InvalidValue,
    PaysourceError,
)


@strawberry.interface(description="An expected failure. `code` is stable; branch on it.")
class Error:
    code: str
    message: str


@strawberry.type(description="No such object, or one the caller may not see (the same).")
class NotFoundError(Error):
    pass


@strawberry.type(description="The caller's role or token may not do this.")
class NotAllowedError(Error):
    pass


@strawberry.type
class FieldError:
    field: str
    message: str


@strawberry.type(description="An input was refused; nothing was written.")
class ValidationError(Error):
    fields: list[FieldError]


@strawberry.type(
    description="The object's state or amounts forbid the command (e.g. "
    "`payment_not_capturable`, `refund_exceeds_captured`), or the idempotency key was "
    "used with another request (`idempotency_key_reused`)."
)
class StateError(Error):
    pass


@strawberry.type(description="Try again after `retryAfterSeconds`, with the same key.")
class RetryableError(Error):
    retry_after_seconds: int


def not_found(what: str) -> NotFoundError:
    return NotFoundError(code="not_found", message=f"no such {what}")


def from_exception(error: Exception) -> Error:
    """The typed error for an expected failure; anything else is a bug: re-raise it."""
    if isinstance(error, PydanticValidationError):
        return _redacted(_validation(error))
    if not isinstance(error, PaysourceError):
        raise error
    for kinds, build in _TYPED:
        if isinstance(error, kinds):
            return _redacted(build(error))
    raise error


def _redacted(error: Error) -> Error:
    """No card number or credential the client sent comes back (redaction.py)."""
    error.message = redact(error.message)
    if isinstance(error, ValidationError):
        for item in error.fields:
            item.field, item.message = redact(item.field), redact(item.message)
    return error


def _retryable(error: PaysourceError) -> Error:
    retry_after_s = int(getattr(error, "retry_after_s", 1))
    return RetryableError(code=error.code, message=error.detail, retry_after_seconds=retry_after_s)


def _invalid(error: PaysourceError) -> Error:
    field = getattr(error, "field", None)
    fields = [FieldError(field=_camel(field), message=error.detail)] if field else []
    return ValidationError(code=error.code, message=error.detail, fields=fields)


_TYPED: list[tuple[tuple[type[PaysourceError], ...], Callable[[PaysourceError], Error]]] = [
    ((NotFound,), lambda e: NotFoundError(code=e.code, message=e.detail)),
    ((Forbidden,), lambda e: NotAllowedError(code=e.code, message=e.detail)),
    (
        (RequestInFlight, ConcurrentModification, Unavailable, MerchantMoving, ReadModelBehind),
        _retryable,
    ),
    ((InvalidValue,), _invalid),
    (
        (IllegalTransition, AmountExceeded, CurrencyMismatch, IdempotencyKeyReused),
        lambda e: StateError(code=e.code, message=e.detail),
    ),
]


def _validation(error: PydanticValidationError) -> ValidationError:
    # Like REST: never echo the input back (it may hold what should not have been sent).
    kinds = {item.get("type") for item in error.errors()}
    fields = [
        FieldError(
            # Redacted before camelCasing, which would disguise a key's text, not hide it.
            field=".".join(_camel(redact(str(part))) for part in item.get("loc", ())) or "input",
            message=str(item.get("msg")),
        )
        for item in error.errors()
    ]
    if "card_number" in kinds:
        message = "card numbers are never accepted: send a card token as `source`"
        return ValidationError(code="card_number_refused", message=message, fields=fields)
    message = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
    return ValidationError(code="validation_error", message=message, fields=fields)


def _camel(name: str) -> str:
    """Pydantic reports the REST field name; GraphQL clients know the camelCase one."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
