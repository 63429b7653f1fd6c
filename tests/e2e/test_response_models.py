"""Responses are built as dicts for speed; the response models only document them in
OpenAPI. These tests keep the two the same: every field documented, nothing extra."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient
from pydantic import BaseModel

from paysource.bootstrap import Container
from paysource.entrypoints.http.rest import schemas
from paysource.entrypoints.http.rest.routes.tokens import TokenOut
from paysource.entrypoints.http.rest.routes.webhooks import (
    WebhookDeliveryList,
    WebhookEndpointList,
    WebhookEndpointOut,
)
from tests.helpers import admin, bearer, drain, new_key


def conforms(model: type[BaseModel], response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    body: dict[str, Any] = response.json()
    # Validation finds wrong types; the round trip finds undocumented or missing fields.
    assert model.model_validate(body).model_dump(mode="json") == body
    return body


def test_rest_answers_match_their_documented_models(
    client: TestClient, container: Container
) -> None:
    staff = admin(client)
    conforms(schemas.MerchantOut, staff.post("/v1/merchants", {"name": "Docs"}))
    merchant = staff.merchant()
    key = conforms(schemas.ApiKeyOut, staff.post("/v1/api_keys", {"role": "finance"}))
    revoked = conforms(
        schemas.ApiKeyOut,
        staff.client.delete(f"/v1/api_keys/{key['id']}", headers=bearer(staff.key)),
    )
    assert (revoked["revoked"], revoked["api_key"]) == (True, None)
    customer = conforms(schemas.CustomerOut, merchant.post("/v1/customers", {"name": "Ada"}))
    conforms(schemas.CustomerOut, merchant.get(f"/v1/customers/{customer['id']}"))

    held = conforms(schemas.PaymentOut, merchant.pay(2000, capture_method="manual"))
    other = conforms(schemas.PaymentOut, merchant.pay(900, customer=customer["id"]))
    drain(container)
    conforms(schemas.PaymentOut, merchant.post(f"/v1/payments/{held['id']}/capture"))
    conforms(schemas.PaymentOut, merchant.get(f"/v1/payments/{held['id']}"))
    refund = conforms(
        schemas.RefundOut,
        merchant.post("/v1/refunds", {"payment": other["id"]}, Idempotency_Key=new_key()),
    )
    drain(container)
    conforms(schemas.RefundOut, merchant.get(f"/v1/refunds/{refund['id']}"))
    listed = conforms(schemas.PaymentList, merchant.get("/v1/payments"))
    assert len(listed["data"]) == 2
    events = conforms(schemas.EventList, merchant.get(f"/v1/payments/{other['id']}/events"))
    assert events["data"]
    conforms(TokenOut, merchant.post("/v1/tokens", {"customer": customer["id"]}))


def test_webhook_answers_match_their_documented_models(client: TestClient) -> None:
    merchant = admin(client).merchant()
    endpoints = "/v1/webhook_endpoints"
    created = conforms(
        WebhookEndpointOut,
        merchant.post(endpoints, {"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    )
    conforms(WebhookEndpointOut, merchant.get(f"{endpoints}/{created['id']}"))
    conforms(WebhookEndpointList, merchant.get(endpoints))
    conforms(WebhookDeliveryList, merchant.get(f"{endpoints}/{created['id']}/deliveries"))
