"""`?as_of=` on single-object reads and on the balance: the state the events up to
that moment left; bad moments are problems, other merchants' objects not found."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.helpers import Api, admin, drain, new_key


def _times(api: Api, path: str) -> dict[str, str]:
    events: list[dict[str, Any]] = api.get(f"{path}/events").json()["data"]
    return {e["type"]: e["time"] for e in events}


def test_a_payment_and_a_refund_as_of_each_moment_of_their_history(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    payment = api.pay(4000, capture_method="manual").json()["id"]
    drain(container)
    assert api.post(f"/v1/payments/{payment}/capture").status_code == 200
    refund = api.post(
        "/v1/refunds", {"payment": payment, "amount": 1500}, Idempotency_Key=new_key()
    ).json()["id"]
    drain(container)
    times = _times(api, f"/v1/payments/{payment}")

    def status_at(kind: str) -> str:
        response = api.get(f"/v1/payments/{payment}", as_of=times[kind])
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    assert status_at("Payment.Created") == "processing"
    assert status_at("Payment.Authorized") == "requires_capture"
    assert status_at("Payment.Captured") == "succeeded"
    refund_times = _times(api, f"/v1/refunds/{refund}")
    pending = api.get(f"/v1/refunds/{refund}", as_of=refund_times["Refund.Created"])
    assert pending.json()["status"] == "pending"
    assert api.get(f"/v1/refunds/{refund}").json()["status"] == "succeeded"


def test_the_balance_as_of_before_and_after_a_capture(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    payment = api.pay(4000, capture_method="manual").json()["id"]
    drain(container)
    assert api.post(f"/v1/payments/{payment}/capture").status_code == 200
    drain(container)
    times = _times(api, f"/v1/payments/{payment}")

    def balance_at(moment: str) -> dict[str, Any]:
        response = api.get("/v1/balance", as_of=moment)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    held = balance_at(times["Payment.Authorized"])
    assert held["pending"] == [{"amount": 4000, "currency": "USD"}]
    assert held["available"] == [{"amount": 0, "currency": "USD"}]
    now = api.get("/v1/balance").json()
    assert balance_at(times["Payment.Captured"]) == now
    assert balance_at("2000-01-01T00:00:00Z")["available"] == []


def test_bad_moments_are_problems_and_the_past_of_others_is_not_found(
    client: TestClient, container: Container
) -> None:
    staff = admin(client)
    mine, theirs = staff.merchant(), staff.merchant()
    payment = mine.pay(1000).json()["id"]
    customer = mine.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=new_key()).json()["id"]
    for bad in ("yesterday", "1700000000", "2026-01-01T00:00:00", "2026-02-30T00:00:00Z"):
        for path in (f"/v1/payments/{payment}", "/v1/balance", f"/v1/customers/{customer}"):
            response = mine.get(path, as_of=bad)
            assert response.status_code == 422, (path, bad)
            assert response.json()["type"].endswith("/validation_error")
    now = "2100-01-01T00:00:00Z"
    assert mine.get(f"/v1/customers/{customer}", as_of=now).json()["name"] == "Ada"
    assert mine.get(f"/v1/payments/{payment}", as_of="2000-01-01T00:00:00Z").status_code == 404
    assert theirs.get(f"/v1/payments/{payment}", as_of=now).status_code == 404
    assert theirs.get(f"/v1/customers/{customer}", as_of=now).status_code == 404
