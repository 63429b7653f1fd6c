"""WebhookEndpoint: a URL where a merchant hears about its objects' state changes.

    enabled ──failing for long (system)──▶ disabled ──enable (merchant)──▶ enabled
       └─────────────────────────delete (merchant)───────────────────────▶ deleted

The signing secret is not recorded: it is derived from a master key, the endpoint's
id and `secret_generation` (see paysource.application.webhooks.endpoints), so the immutable
log never holds a secret and rotating it is one event.

EndpointSlot: a merchant's places for endpoints (the cap), taken by a registration and
freed by a deletion in the same write as the endpoint's own event.

DeliveryResend: the claim of a keyed resend, with the answer it gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import SplitResult, urlsplit
from uuid import UUID, uuid5

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.errors import IllegalTransition, InvalidValue
from paysource.domain.idempotency import claim_id
from paysource.domain.meta import Meta
from paysource.domain.profile import check_text

MAX_URL_LENGTH = 2048
MAX_EVENT_PATTERNS = 50
MAX_DESCRIPTION_LENGTH = 500
MAX_REASON_LENGTH = 500
ALL_EVENTS = "*"


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"


def check_webhook_url(url: str) -> str:
    """A well-formed absolute http(s) URL. Where it points is checked elsewhere (the
    SSRF guard resolves it), since that can change after registration."""
    problem = _url_problem(url)
    if problem is not None:
        raise InvalidValue(f"url {problem}", field="url")
    return url


def _url_problem(url: str) -> str | None:
    if not 0 < len(url) <= MAX_URL_LENGTH or not url.isascii() or not url.isprintable():
        return f"must be 1 to {MAX_URL_LENGTH} printable ASCII characters (punycode hosts)"
    parts = urlsplit(url)
    checks = (
        (not any(c.isspace() for c in url), "must not contain spaces"),
        (parts.scheme in ("http", "https"), "must be an http or https URL"),
        (bool(parts.hostname), "must name a host"),
        (parts.username is None and parts.password is None, "must not carry credentials"),
        (not parts.fragment, "must not have a fragment"),
        (_valid_port(parts), "has an invalid port"),
    )
    return next((problem for ok, problem in checks if not ok), None)


def _valid_port(parts: SplitResult) -> bool:
    try:
        port = parts.port  # raises ValueError for a port out of range
    except ValueError:
        return False
    return port != 0  # urlsplit takes it, and nothing can be delivered to it


def subscribes(patterns: Iterable[str], event_type: str) -> bool:
    """Whether `patterns` ("*", "payment.*" or exact types) select `event_type`."""
    kind = event_type.partition(".")[0]
    return any(p in (ALL_EVENTS, event_type, f"{kind}.*") for p in patterns)


def check_event_patterns(patterns: list[str], known_types: frozenset[str]) -> list[str]:
    """Each pattern is "*", "<kind>.*" for a known kind, or a known type; no repeats."""
    if not 1 <= len(patterns) <= MAX_EVENT_PATTERNS:
        raise InvalidValue(f"events must list 1 to {MAX_EVENT_PATTERNS} types", field="events")
    kinds = {t.partition(".")[0] for t in known_types}
    for pattern in patterns:
        known = pattern in known_types or pattern == ALL_EVENTS
        if not known and not (pattern.endswith(".*") and pattern[:-2] in kinds):
            raise InvalidValue(f"events: unknown event type {pattern[:80]!r}", field="events")
    return list(dict.fromkeys(patterns))


def check_description(description: str | None) -> str | None:
    if description is None:
        return None
    if len(check_text(description, field="description")) > MAX_DESCRIPTION_LENGTH:
        raise InvalidValue(
            f"description must be at most {MAX_DESCRIPTION_LENGTH} characters",
            field="description",
        )
    return description


class WebhookEndpoint(PaysourceAggregate):
    class Created(PaysourceAggregate.Created):
        merchant_id: UUID
        url: str
        events: list[str]
        description: str | None
        request_hash: str

    class Disabled(PaysourceAggregate.Event):
        reason: str

        def apply(self, aggregate: WebhookEndpoint) -> None:
            aggregate.status = EndpointStatus.DISABLED
            aggregate.disabled_reason = self.reason
            aggregate.disabled_at = self.timestamp

    class Enabled(PaysourceAggregate.Event):
        def apply(self, aggregate: WebhookEndpoint) -> None:
            aggregate.status = EndpointStatus.ENABLED
            aggregate.disabled_reason = None
            aggregate.disabled_at = None

    class SecretRotated(PaysourceAggregate.Event):
        generation: int

        def apply(self, aggregate: WebhookEndpoint) -> None:
            aggregate.secret_generation = self.generation

    class Deleted(PaysourceAggregate.Event):
        def apply(self, aggregate: WebhookEndpoint) -> None:
            aggregate.status = EndpointStatus.DELETED

    def __init__(
        self,
        *,
        merchant_id: UUID,
        url: str,
        events: list[str],
        description: str | None,
        request_hash: str,
    ) -> None:
        self.merchant_id = merchant_id
        self.url = url
        self.events = list(events)
        self.description = description
        self.request_hash = request_hash
        self.status = EndpointStatus.ENABLED
        self.secret_generation = 1
        self.disabled_reason: str | None = None
        self.disabled_at: datetime | None = None

    @classmethod
    def register(
        cls,
        *,
        endpoint_id: UUID,
        merchant_id: UUID,
        url: str,
        events: list[str],
        known_types: frozenset[str],
        description: str | None,
        request_hash: str,
        meta: Meta,
    ) -> WebhookEndpoint:
        return cls._open(
            cls.Created,
            aggregate_id=endpoint_id,
            meta=meta,
            merchant_id=merchant_id,
            url=check_webhook_url(url),
            events=check_event_patterns(events, known_types),
            description=check_description(description),
            request_hash=request_hash,
        )

    def check_not_deleted(self) -> None:
        if self.status is EndpointStatus.DELETED:
            raise IllegalTransition("the endpoint is deleted", code="webhook_endpoint_deleted")

    def disable(self, reason: str, meta: Meta) -> None:
        if self.status is not EndpointStatus.ENABLED:
            raise IllegalTransition(
                f"cannot disable an endpoint that is {self.status}",
                code="webhook_endpoint_not_enabled",
            )
        self._record(self.Disabled, meta, reason=reason[:MAX_REASON_LENGTH])

    def enable(self, meta: Meta) -> None:
        if self.status is not EndpointStatus.DISABLED:
            raise IllegalTransition(
                f"cannot enable an endpoint that is {self.status}",
                code="webhook_endpoint_not_disabled",
            )
        self._record(self.Enabled, meta)

    def rotate_secret(self, meta: Meta) -> None:
        self.check_not_deleted()
        self._record(self.SecretRotated, meta, generation=self.secret_generation + 1)

    def delete(self, meta: Meta) -> None:
        self.check_not_deleted()
        self._record(self.Deleted, meta)


# Fixed forever: changing it would forget every place taken.
_SLOT_NAMESPACE = UUID("0c7e3f4a-5b21-4d6e-9f80-3a1b2c4d5e6f")


def endpoint_slot_id(merchant_id: UUID, number: int) -> UUID:
    return uuid5(_SLOT_NAMESPACE, f"{merchant_id}:{number}")


class EndpointSlot(PaysourceAggregate):
    """One of a merchant's places for a webhook endpoint, held by at most one endpoint.

    The cap on endpoints, kept by the log: a merchant's places have ids derived from
    (merchant, number), so two registrations taking the same place write the same
    aggregate and the event store lets one of them, whatever the read models know.
    """

    class Created(PaysourceAggregate.Created):
        merchant_id: UUID
        number: int
        endpoint_id: UUID

    class Taken(PaysourceAggregate.Event):
        endpoint_id: UUID

        def apply(self, aggregate: EndpointSlot) -> None:
            aggregate.endpoint_id = self.endpoint_id

    class Freed(PaysourceAggregate.Event):
        endpoint_id: UUID

        def apply(self, aggregate: EndpointSlot) -> None:
            aggregate.endpoint_id = None

    def __init__(self, *, merchant_id: UUID, number: int, endpoint_id: UUID) -> None:
        self.merchant_id = merchant_id
        self.number = number
        self.endpoint_id: UUID | None = endpoint_id

    @classmethod
    def first_take(
        cls, *, merchant_id: UUID, number: int, endpoint_id: UUID, meta: Meta
    ) -> EndpointSlot:
        return cls._open(
            cls.Created,
            aggregate_id=endpoint_slot_id(merchant_id, number),
            meta=meta,
            merchant_id=merchant_id,
            number=number,
            endpoint_id=endpoint_id,
        )

    def take(self, endpoint_id: UUID, meta: Meta) -> None:
        if self.endpoint_id is not None:
            raise IllegalTransition("the place is taken", code="webhook_endpoint_limit")
        self._record(self.Taken, meta, endpoint_id=endpoint_id)

    def free(self, endpoint_id: UUID, meta: Meta) -> None:
        if self.endpoint_id != endpoint_id:
            raise IllegalTransition("the place is not this endpoint's", code="slot_not_held")
        self._record(self.Freed, meta, endpoint_id=endpoint_id)


class DeliveryResend(PaysourceAggregate):
    """A resend of a delivery asked for with an Idempotency-Key, and the answer it gave:
    the key's claim (its id is `claim_id(merchant, key)`), written once.

    Deliveries are rows of the delivery queue, not aggregates, so no past version can
    show one as a resend left it: the claim keeps the delivery and its attempts as they
    were answered (ids, times, statuses and our summaries of receivers' answers; never
    a payload or a secret). A replay answers them again and queues nothing.
    """

    class Created(PaysourceAggregate.Created):
        merchant_id: UUID
        request_hash: str
        endpoint_id: UUID
        delivery_id: UUID
        delivery: dict[str, Any]
        attempts: list[dict[str, Any]]

    def __init__(
        self,
        *,
        merchant_id: UUID,
        request_hash: str,
        endpoint_id: UUID,
        delivery_id: UUID,
        delivery: dict[str, Any],
        attempts: list[dict[str, Any]],
    ) -> None:
        self.merchant_id = merchant_id
        self.request_hash = request_hash
        self.endpoint_id = endpoint_id
        self.delivery_id = delivery_id
        self.delivery = delivery
        self.attempts = attempts

    @classmethod
    def answered(
        cls,
        *,
        merchant_id: UUID,
        key: str,
        request_hash: str,
        endpoint_id: UUID,
        delivery_id: UUID,
        delivery: Mapping[str, Any],
        attempts: Sequence[Mapping[str, Any]],
        meta: Meta,
    ) -> DeliveryResend:
        return cls._open(
            cls.Created,
            aggregate_id=claim_id(merchant_id, key),
            meta=meta,
            merchant_id=merchant_id,
            request_hash=request_hash,
            endpoint_id=endpoint_id,
            delivery_id=delivery_id,
            delivery=dict(delivery),
            attempts=[dict(a) for a in attempts],
        )
