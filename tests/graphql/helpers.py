"""Helpers for GraphQL tests: a small client, and a world built through the real API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.bootstrap import Container
from paysource.processes.payouts import PayoutProcessor, PayoutRetry
from tests.helpers import Api, admin, bearer, drain, new_key


class Gql:
    """POSTs GraphQL documents with one credential (an API key or a token)."""

    def __init__(self, client: httpx.Client, credential: str) -> None:
        self.client = client
        self.credential = credential

    def raw(self, query: str, **variables: Any) -> httpx.Response:
        body = {"query": query, "variables": variables}
        return self.client.post("/graphql", json=body, headers=bearer(self.credential))

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        """The `data` of a response that must have no `errors`."""
        response = self.raw(query, **variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


def token(api: Api, **body: Any) -> str:
    response = api.post("/v1/tokens", body)
    assert response.status_code == 201, response.text
    value: str = response.json()["token"]
    return value


@dataclass(frozen=True)
class Shop:
    """A merchant with two customers, payments in every state, and a refund."""

    api: Api
    merchant: str
    customer: str  # Ada: a captured payment partly refunded, and a held one
    other_customer: str  # Bob: one captured payment
    captured: str
    held: str
    bob_payment: str
    refund: str

    @property
    def ids(self) -> dict[str, str]:
        return {
            "merchant": self.merchant,
            "customer": self.customer,
            "other_customer": self.other_customer,
            "captured": self.captured,
            "held": self.held,
            "bob_payment": self.bob_payment,
            "refund": self.refund,
        }


def _customer(api: Api, name: str) -> str:
    response = api.post("/v1/customers", {"name": name, "email": f"{name.lower()}@example.com"})
    assert response.status_code == 201, response.text
    value: str = response.json()["id"]
    return value


def _pay(api: Api, amount: int, customer: str, **fields: Any) -> str:
    response = api.pay(amount, customer=customer, **fields)
    assert response.status_code == 202, response.text
    value: str = response.json()["id"]
    return value


def open_shop(client: httpx.Client, container: Container, name: str) -> Shop:
    api = admin(client).merchant(name)
    merchant = _merchant_id(api)
    ada, bob = _customer(api, "Ada"), _customer(api, "Bob")
    captured = _pay(api, 2500, ada, description="order 1")
    held = _pay(api, 5000, ada, capture_method="manual")
    bob_payment = _pay(api, 1000, bob)
    drain(container)
    response = api.post(
        "/v1/refunds", {"payment": captured, "amount": 1000}, Idempotency_Key=new_key()
    )
    assert response.status_code == 202, response.text
    drain(container)
    return Shop(api, merchant, ada, bob, captured, held, bob_payment, response.json()["id"])


def _merchant_id(api: Api) -> str:
    # The merchant's id is on everything it owns; a throwaway customer shows it.
    response = api.post("/v1/customers", {"name": "Probe"})
    value: str = response.json()["merchant"]
    return value


def settle(client: httpx.Client, container: Container, merchant: str) -> str:
    """Close the merchant's USD settlement of everything up to now (REST, as finance
    would), run the payout worker against the simulated bank, and project the result;
    the settlement's id."""
    until = datetime.now(UTC).isoformat()  # a cut-off must have passed
    body = {"merchant": merchant, "currency": "USD", "until": until}
    response = admin(client).post("/v1/settlements", body)
    assert response.status_code == 201, response.text
    drain(container)
    for cell in container.router.all():
        payouts = PayoutProcessor(
            cell.store, container.bank, container.clock, retry=PayoutRetry(2, 0.01)
        )
        run_until_caught_up(Follower(cell.store, payouts, wakeup=Wakeup()))
    drain(container)
    value: str = response.json()["id"]
    return value
