"""The whole journey through HTTP: merchant → customer → payment → refund → history."""

from __future__ import annotations

from fractions import Fraction
from uuid import UUID

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.helpers import admin, drain, new_key


def test_a_merchant_takes_a_payment_refunds_part_and_audits_its_history(
    client: TestClient, container: Container
) -> None:
    merchant = admin(client).merchant("Acme")
    customer = merchant.post("/v1/customers", {"name": "Ada", "email": "ada@example.com"})
    assert customer.status_code == 201, customer.text

    created = merchant.pay(2500, customer=customer.json()["id"])
    assert created.status_code == 202
    assert created.json()["status"] == "processing"
    payment_id = created.json()["id"]

    drain(container)
    payment = merchant.get(f"/v1/payments/{payment_id}").json()
    assert payment["status"] == "succeeded"
    assert payment["amount_captured"] == 2500
    assert payment["fee"] == round(Fraction(2500 * 290, 10000)) + 30

    refund = merchant.post(
        "/v1/refunds", {"payment": payment_id, "amount": 1000}, Idempotency_Key=new_key()
    )
    assert refund.status_code == 202, refund.text
    assert refund.json()["status"] == "pending"
    drain(container)
    assert merchant.get(f"/v1/refunds/{refund.json()['id']}").json()["status"] == "succeeded"
    payment = merchant.get(f"/v1/payments/{payment_id}").json()
    assert (payment["amount_refunded"], payment["amount_refund_pending"]) == (1000, 0)

    history = merchant.get(f"/v1/payments/{payment_id}/events").json()["data"]
    assert [event["type"] for event in history] == [
        "Payment.Created",
        "Payment.RiskAssessed",
        "Payment.Authorized",
        "Payment.Captured",
        "Payment.CaptureConfirmed",  # the acquirer accepted the capture: settleable
        "Payment.RefundReserved",
        "Payment.RefundSettled",
    ]
    assert [event["version"] for event in history] == list(range(1, 8))
    assert history[4]["data"]["capture_key"] == f"{UUID(hex=payment_id[4:])}:capture"
    assert history[0]["metadata"]["actor"] == "merchant"
    assert history[1]["metadata"]["actor"] == "system"
    assert history[0]["data"]["card"] == {
        "token": "tok_visa",
        "brand": "visa",
        "bin": "424242",
        "last4": "4242",
    }


def test_the_payments_list_shows_the_merchants_payments_newest_first(
    client: TestClient, container: Container
) -> None:
    merchant = admin(client).merchant()
    other = admin(client).merchant("Other")
    ids = [merchant.pay(100 + n).json()["id"] for n in range(5)]
    other.pay(999)
    drain(container)

    first = merchant.get("/v1/payments", limit=3).json()
    assert [p["id"] for p in first["data"]] == ids[::-1][:3]
    assert first["has_more"] is True
    rest = merchant.get("/v1/payments", limit=3, starting_after=first["data"][-1]["id"]).json()
    assert [p["id"] for p in rest["data"]] == ids[::-1][3:]
    assert rest["has_more"] is False
    assert merchant.get("/v1/payments", status="failed").json()["data"] == []
