"""Webhook endpoints and their deliveries (merchant keys; another merchant's ids are 404).

Wire it with `install(app, webhooks)`: the webhook services the composition root built
(`app.state.webhooks`), and `router`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints

from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.ids import Kind, decode_prefixed, encode
from paysource.application.representations import timestamp
from paysource.application.webhooks.catalog import EVENT_ID_PREFIX
from paysource.application.webhooks.deliveries import DeliveryView
from paysource.application.webhooks.endpoints import ENDPOINT_ID_PREFIX
from paysource.application.webhooks.queue import DELIVERY_ID_PREFIX, MAX_PAGE
from paysource.bootstrap import CellWebhooks, Webhooks
from paysource.domain.webhook_endpoint import WebhookEndpoint
from paysource.entrypoints.http.inputs import Body
from paysource.entrypoints.http.rest.deps import MerchantCall, MerchantCallDep
from paysource.entrypoints.http.rest.routes.common import listing, respond

router = APIRouter(prefix="/v1", tags=["webhooks"])

ENDPOINT_PREFIX = ENDPOINT_ID_PREFIX
DeliveryStatus = Literal["pending", "succeeded", "failed", "canceled"]


def install(app: FastAPI, webhooks: Webhooks, *, dependencies: Sequence[Any] = ()) -> Webhooks:
    """Serve the routes on `app` with `webhooks` (built by bootstrap), each route also
    depending on `dependencies`."""
    app.state.webhooks = webhooks
    app.include_router(router, dependencies=list(dependencies))
    return webhooks


def optional_time(moment: datetime | None) -> str | None:
    return None if moment is None else timestamp(moment)


# Requests and responses --------------------------------------------------------------


class WebhookEndpointIn(Body):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    events: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=100)]],
        Field(min_length=1, max_length=50),
    ]
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class DeliveryHealth(BaseModel):
    failing_since: str | None
    consecutive_failures: int
    last_success: str | None
    last_failure: str | None


class WebhookEndpointOut(BaseModel):
    id: str
    object: Literal["webhook_endpoint"]
    merchant: str
    url: str
    events: list[str]
    description: str | None
    status: Literal["enabled", "disabled", "deleted"]
    disabled_reason: str | None
    disabled_at: str | None
    delivery_health: DeliveryHealth
    created: str
    secret: str | None = Field(description="The signing secret: shown on creation and rotation")


class AttemptOut(BaseModel):
    time: str
    trigger: Literal["automatic", "manual"]
    succeeded: bool
    status_code: int | None
    latency_ms: int
    error: str | None


class WebhookDeliveryOut(BaseModel):
    id: str
    object: Literal["webhook_delivery"]
    endpoint: str
    event: str
    event_type: str
    object_version: int
    status: DeliveryStatus
    attempt_count: int
    next_attempt: str | None
    resend_requested: str | None = Field(
        description="When a resend was asked for that has not been attempted yet"
    )
    created: str
    completed: str | None
    attempts: list[AttemptOut]


class WebhookEndpointList(BaseModel):
    object: Literal["list"]
    data: list[WebhookEndpointOut]
    has_more: bool


class WebhookDeliveryList(BaseModel):
    object: Literal["list"]
    data: list[WebhookDeliveryOut]
    has_more: bool


# Representations ---------------------------------------------------------------------


def endpoint_body(
    fields: dict[str, Any], health: dict[str, Any] | None, *, secret: str | None = None
) -> dict[str, Any]:
    """An endpoint from its aggregate's or row's `fields`, with the workers' health."""
    health = health or {}
    return {
        "id": encode(ENDPOINT_PREFIX, fields["id"]),
        "object": "webhook_endpoint",
        "merchant": encode(Kind.MERCHANT, fields["merchant_id"]),
        "url": fields["url"],
        "events": list(fields["events"]),
        "description": fields["description"],
        "status": str(fields["status"]),
        "disabled_reason": fields["disabled_reason"],
        "disabled_at": optional_time(fields["disabled_at"]),
        "delivery_health": {
            "failing_since": optional_time(health.get("failing_since")),
            "consecutive_failures": health.get("consecutive_failures", 0),
            "last_success": optional_time(health.get("last_success_at")),
            "last_failure": optional_time(health.get("last_failure_at")),
        },
        "created": timestamp(fields["created_at"]),
        "secret": secret,
    }


def endpoint_fields(e: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "merchant_id": e.merchant_id,
        "url": e.url,
        "events": e.events,
        "description": e.description,
        "status": e.status,
        "disabled_reason": e.disabled_reason,
        "disabled_at": e.disabled_at,
        "created_at": e.created_on,
    }


def delivery_body(found: DeliveryView) -> dict[str, Any]:
    row = found.row
    return {
        "id": encode(DELIVERY_ID_PREFIX, row["id"]),
        "object": "webhook_delivery",
        "endpoint": encode(ENDPOINT_PREFIX, row["endpoint_id"]),
        "event": encode(EVENT_ID_PREFIX, row["event_id"]),
        "event_type": row["event_type"],
        "object_version": row["object_version"],
        "status": row["status"],
        "attempt_count": row["attempts"],
        "next_attempt": timestamp(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "resend_requested": optional_time(row["resend_at"]),
        "created": timestamp(row["enqueued_at"]),
        "completed": optional_time(row["completed_at"]),
        "attempts": [
            {
                "time": timestamp(a["attempted_at"]),
                "trigger": a["trigger"],
                "succeeded": a["succeeded"],
                "status_code": a["status_code"],
                "latency_ms": a["latency_ms"],
                "error": a["error"],
            }
            for a in found.attempts
        ],
    }


# Dependencies -------------------------------------------------------------------------


def get_cell_webhooks(request: Request, call: MerchantCallDep) -> CellWebhooks:
    webhooks: Webhooks | None = getattr(request.app.state, "webhooks", None)
    assert webhooks is not None, (
        "wire webhooks with paysource.entrypoints.http.rest.routes.webhooks.install"
    )
    return webhooks.for_cell(call.cell)


CellWebhooksDep = Annotated[CellWebhooks, Depends(get_cell_webhooks)]


def _endpoint(call: MerchantCall, webhooks: CellWebhooks, endpoint_id: str) -> WebhookEndpoint:
    uuid = decode_prefixed(ENDPOINT_PREFIX, endpoint_id, "webhook endpoint")
    return webhooks.endpoints.get(merchant_id=call.merchant_id, endpoint_id=uuid)


def _show(webhooks: CellWebhooks, endpoint: WebhookEndpoint, secret: str | None = None) -> Any:
    health = webhooks.queue.endpoint_row(endpoint.id)
    return endpoint_body(endpoint_fields(endpoint), health, secret=secret)


# Endpoints ----------------------------------------------------------------------------


@router.post(
    "/webhook_endpoints",
    status_code=201,
    response_model=WebhookEndpointOut,
    summary="Register a webhook endpoint; its signing secret is in the answer",
    description="`events` lists types (`payment.succeeded`), kinds (`payment.*`) or `*`. "
    "The URL must be http(s) and resolve to public addresses only. The answer carries the "
    "signing `secret` (also on a replay with the same Idempotency-Key); reads never do.",
)
def create_webhook_endpoint(
    body: WebhookEndpointIn, call: MerchantCallDep, webhooks: CellWebhooksDep
) -> JSONResponse:
    # Not through the Redis fast path: the answer holds a secret, kept out of Redis.
    outcome, secret = webhooks.endpoints.register(
        merchant_id=call.merchant_id,
        url=body.url,
        events=list(body.events),
        description=body.description,
        idempotency_key=call.context.idempotency_key,
        request_hash=fingerprint("POST", "/v1/webhook_endpoints", body.fingerprint_body()),
        meta=call.meta,
    )
    shown = _show(webhooks, outcome.value, secret)
    return respond(Answer(201, shown, outcome.replayed))


@router.get(
    "/webhook_endpoints",
    response_model=WebhookEndpointList,
    summary="List webhook endpoints, newest first",
)
def list_webhook_endpoints(
    call: MerchantCallDep,
    webhooks: CellWebhooksDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
) -> JSONResponse:
    # A merchant has at most 16 endpoints, so one page holds them all.
    rows = webhooks.queue.list_endpoints(call.merchant_id, limit=limit)
    data = [endpoint_body(row, row) for row in rows]
    return respond(Answer(200, listing(data, has_more=False)))


@router.get(
    "/webhook_endpoints/{endpoint_id}",
    response_model=WebhookEndpointOut,
    summary="Get a webhook endpoint, with its status and delivery health",
)
def get_webhook_endpoint(
    endpoint_id: str, call: MerchantCallDep, webhooks: CellWebhooksDep
) -> JSONResponse:
    return respond(Answer(200, _show(webhooks, _endpoint(call, webhooks, endpoint_id))))


@router.delete(
    "/webhook_endpoints/{endpoint_id}",
    response_model=WebhookEndpointOut,
    summary="Delete a webhook endpoint (its pending deliveries are canceled)",
)
def delete_webhook_endpoint(
    endpoint_id: str, call: MerchantCallDep, webhooks: CellWebhooksDep
) -> JSONResponse:
    uuid = decode_prefixed(ENDPOINT_PREFIX, endpoint_id, "webhook endpoint")
    endpoint = webhooks.endpoints.delete(
        merchant_id=call.merchant_id, endpoint_id=uuid, meta=call.meta
    )
    return respond(Answer(200, _show(webhooks, endpoint)))


@router.post(
    "/webhook_endpoints/{endpoint_id}/enable",
    response_model=WebhookEndpointOut,
    summary="Enable a disabled webhook endpoint; its pending deliveries resume",
    description="409 `webhook_endpoint_not_disabled` on an enabled endpoint. A replay "
    "with the same Idempotency-Key enables nothing: it answers the endpoint as that "
    "request left it, not 409.",
)
def enable_webhook_endpoint(
    endpoint_id: str, call: MerchantCallDep, webhooks: CellWebhooksDep
) -> JSONResponse:
    uuid = decode_prefixed(ENDPOINT_PREFIX, endpoint_id, "webhook endpoint")
    outcome = webhooks.endpoints.enable(
        merchant_id=call.merchant_id,
        endpoint_id=uuid,
        idempotency_key=call.context.idempotency_key,
        # The path names the endpoint: the same key on another endpoint is another request.
        request_hash=fingerprint("POST", f"/v1/webhook_endpoints/{uuid}/enable", None),
        meta=call.meta,
    )
    return respond(Answer(200, _show(webhooks, outcome.value), outcome.replayed))


@router.post(
    "/webhook_endpoints/{endpoint_id}/rotate_secret",
    response_model=WebhookEndpointOut,
    summary="Rotate the signing secret; the old one also signs for 24 hours",
    description="The answer carries the new `secret`. A replay with the same "
    "Idempotency-Key rotates nothing: it answers that rotation's endpoint and secret.",
)
def rotate_webhook_secret(
    endpoint_id: str, call: MerchantCallDep, webhooks: CellWebhooksDep
) -> JSONResponse:
    uuid = decode_prefixed(ENDPOINT_PREFIX, endpoint_id, "webhook endpoint")
    # Not through the Redis fast path: the answer holds a secret, kept out of Redis.
    outcome, secret = webhooks.endpoints.rotate_secret(
        merchant_id=call.merchant_id,
        endpoint_id=uuid,
        idempotency_key=call.context.idempotency_key,
        # The path names the endpoint: the same key on another endpoint is another request.
        request_hash=fingerprint("POST", f"/v1/webhook_endpoints/{uuid}/rotate_secret", None),
        meta=call.meta,
    )
    return respond(Answer(200, _show(webhooks, outcome.value, secret), outcome.replayed))


# Deliveries ---------------------------------------------------------------------------


@router.get(
    "/webhook_endpoints/{endpoint_id}/deliveries",
    response_model=WebhookDeliveryList,
    summary="List an endpoint's deliveries, newest first, with their latest attempts",
)
def list_webhook_deliveries(
    endpoint_id: str,
    call: MerchantCallDep,
    webhooks: CellWebhooksDep,
    *,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
    starting_after: Annotated[str | None, Query(max_length=100)] = None,
    status: DeliveryStatus | None = None,
) -> JSONResponse:
    uuid = decode_prefixed(ENDPOINT_PREFIX, endpoint_id, "webhook endpoint")
    cursor = None
    if starting_after is not None:
        cursor = decode_prefixed(DELIVERY_ID_PREFIX, starting_after, "delivery to start after")
    found, has_more = webhooks.deliveries.list_deliveries(
        merchant_id=call.merchant_id,
        endpoint_id=uuid,
        limit=limit,
        starting_after=cursor,
        status=status,
    )
    return respond(Answer(200, listing([delivery_body(d) for d in found], has_more=has_more)))


@router.get(
    "/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}",
    response_model=WebhookDeliveryOut,
    summary="Get a delivery with its latest attempts",
)
def get_webhook_delivery(
    endpoint_id: str, delivery_id: str, call: MerchantCallDep, webhooks: CellWebhooksDep
) -> JSONResponse:
    found = webhooks.deliveries.get_delivery(
        merchant_id=call.merchant_id,
        endpoint_id=decode_prefixed(ENDPOINT_PREFIX, endpoint_id, "webhook endpoint"),
        delivery_id=decode_prefixed(DELIVERY_ID_PREFIX, delivery_id, "webhook delivery"),
    )
    return respond(Answer(200, delivery_body(found)))


@router.post(
    "/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}/resend",
    status_code=202,
    response_model=WebhookDeliveryOut,
    summary="Send a delivery again (one attempt, queued: due now)",
    description="Whatever the delivery's status, and regardless of per-object order: "
    "receivers drop stale versions by `object_version`. The answer is 202 with the "
    "delivery (`resend_requested` set); the delivery workers make the attempt within "
    "moments, and it shows in `attempts` with `trigger: manual`. Resends asked for "
    "before that attempt are one resend. A replay with the same Idempotency-Key queues "
    "nothing: it answers the delivery as that resend showed it.",
)
def resend_webhook_delivery(
    endpoint_id: str, delivery_id: str, call: MerchantCallDep, webhooks: CellWebhooksDep
) -> JSONResponse:
    endpoint_uuid = decode_prefixed(ENDPOINT_PREFIX, endpoint_id, "webhook endpoint")
    delivery_uuid = decode_prefixed(DELIVERY_ID_PREFIX, delivery_id, "webhook delivery")
    outcome = webhooks.deliveries.resend(
        merchant_id=call.merchant_id,
        endpoint_id=endpoint_uuid,
        delivery_id=delivery_uuid,
        idempotency_key=call.context.idempotency_key,
        # The path names the delivery: the same key on another one is another request.
        request_hash=fingerprint(
            "POST",
            f"/v1/webhook_endpoints/{endpoint_uuid}/deliveries/{delivery_uuid}/resend",
            None,
        ),
        meta=call.meta,
    )
    return respond(Answer(202, delivery_body(outcome.value), outcome.replayed))
