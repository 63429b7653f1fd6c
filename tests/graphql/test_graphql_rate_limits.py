"""Rate limits hold for every way in: tokens, and each operation on a websocket."""

from __future__ import annotations

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.graphql.helpers import Gql, token
from tests.helpers import admin

LIMIT = 5


def _limit(container: Container, per_s: int) -> None:
    container.settings = container.settings.model_copy(update={"rate_limit_per_s": per_s})


def test_minting_tokens_does_not_multiply_a_merchants_limit(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    customers = [api.post("/v1/customers", {"name": f"C{n}"}).json()["id"] for n in range(4)]
    shoppers = [Gql(client, token(api, customer=customer)) for customer in customers]
    _limit(container, LIMIT)
    statuses = [
        shopper.raw("{ viewer { role } }").status_code for _ in range(LIMIT) for shopper in shoppers
    ]
    # Each shopper stays within its own window; together they exceed the merchant's.
    assert statuses.count(200) <= LIMIT
    assert statuses.count(429) >= len(statuses) - LIMIT
    # Another merchant is not affected.
    other = Gql(client, token(admin(client).merchant("Other")))
    assert other.raw("{ viewer { role } }").status_code == 200
