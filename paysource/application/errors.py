"""Errors of the application layer (see the tree in paysource.domain.errors)."""

from __future__ import annotations

from paysource.domain.errors import InvalidValue, PaysourceError


class ApplicationError(PaysourceError):
    code = "application_error"


class NotFound(ApplicationError):
    """Unknown id, or an id of another merchant: the two are indistinguishable on purpose."""

    code = "not_found"


class Unauthenticated(ApplicationError):
    code = "unauthenticated"


class Forbidden(ApplicationError):
    code = "forbidden"


class InvalidSource(InvalidValue):
    code = "invalid_source"


class IdempotencyKeyReused(ApplicationError):
    """The key was used before with another request (method, path or body)."""

    code = "idempotency_key_reused"


class RequestInFlight(ApplicationError):
    """The first request with this key has not finished yet."""

    code = "idempotency_request_in_flight"

    def __init__(self, detail: str, *, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class ConcurrentModification(ApplicationError):
    """Optimistic concurrency kept failing after bounded retries."""

    code = "concurrent_modification"

    def __init__(self, detail: str, *, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class MerchantMoving(ApplicationError):
    """The merchant is being moved to another cell: its writes wait for the switch."""

    code = "merchant_moving"

    def __init__(self, detail: str, *, retry_after_s: int = 2) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(ApplicationError):
    """A dependency we cannot work without (the event store) is down."""

    code = "service_unavailable"

    def __init__(self, detail: str, *, retry_after_s: int = 2) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class ReadModelBehind(ApplicationError):
    """A command that decides on a read model found it still behind the log. Not an
    outage (`Unavailable`, which has the API probe the database): the database answers,
    the worker has not applied the latest events yet. Retry shortly."""

    code = "read_model_behind"

    def __init__(self, detail: str, *, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class TooManySubscriptions(ApplicationError):
    """One owner holds as many live subscriptions in this process as it may."""

    code = "too_many_subscriptions"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Too many open subscriptions ({limit} at most for one merchant or key): "
            "complete some first."
        )
        self.limit = limit


class SubjectErased(ApplicationError):
    """Personal data of an erased customer cannot be written again."""

    code = "customer_erased"
