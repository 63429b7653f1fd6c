"""POST /v1/customers/{id} (update) and DELETE /v1/customers/{id} (erase), and the
`paysource customers erase` command: merchant-scoped, idempotent, problem+json."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.domain.personal import ERASED
from paysource.entrypoints.http.app import create_app
from tests.e2e.test_cli import env_for, paysource
from tests.helpers import Api, admin, bearer, new_key

PROBLEM = "application/problem+json"


def new_customer(merchant: Api, **fields: object) -> dict[str, object]:
    body = {"name": "Grace Hopper", "email": "grace@example.test", **fields}
    response = merchant.post("/v1/customers", body, Idempotency_Key=new_key())
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def delete(client: TestClient, merchant: Api, customer: object) -> httpx.Response:
    response: httpx.Response = client.delete(
        f"/v1/customers/{customer}", headers=bearer(merchant.key)
    )
    return response


def test_an_update_changes_only_the_fields_sent(client: TestClient) -> None:
    merchant = admin(client).merchant()
    customer = new_customer(merchant, metadata={"plan": "gold", "personal.phone": "+1 555"})

    response = merchant.post(
        f"/v1/customers/{customer['id']}",
        {"email": None, "metadata": {"personal.phone": "", "tier": "b"}},
        Idempotency_Key=new_key(),
    )

    assert response.status_code == 200, response.text
    shown = response.json()
    assert (shown["name"], shown["email"], shown["erased"]) == ("Grace Hopper", None, False)
    assert shown["metadata"] == {"plan": "gold", "tier": "b"}
    assert merchant.get(f"/v1/customers/{customer['id']}").json() == shown


def test_an_update_retried_with_its_key_is_answered_once(client: TestClient) -> None:
    merchant = admin(client).merchant()
    customer = new_customer(merchant)
    key = new_key()

    first = merchant.post(
        f"/v1/customers/{customer['id']}", {"name": "G. Hopper"}, Idempotency_Key=key
    )
    again = merchant.post(
        f"/v1/customers/{customer['id']}", {"name": "G. Hopper"}, Idempotency_Key=key
    )
    reused = merchant.post(
        f"/v1/customers/{customer['id']}", {"name": "Other"}, Idempotency_Key=key
    )

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert reused.status_code == 422
    assert reused.headers["content-type"] == PROBLEM


def test_an_update_replayed_after_erasure_says_erased(client: TestClient) -> None:
    merchant = admin(client).merchant()
    customer = new_customer(merchant)
    key = new_key()
    merchant.post(f"/v1/customers/{customer['id']}", {"name": "G. Hopper"}, Idempotency_Key=key)
    delete(client, merchant, customer["id"])

    again = merchant.post(
        f"/v1/customers/{customer['id']}", {"name": "G. Hopper"}, Idempotency_Key=key
    )

    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (again.json()["name"], again.json()["erased"]) == (ERASED, True)


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"email": "not-an-address"},
        {"name": 7},
        {"nickname": "x"},
        {"metadata": {"k": 1}},
    ],
)
def test_a_bad_update_is_a_problem(client: TestClient, body: dict[str, object]) -> None:
    merchant = admin(client).merchant()
    customer = new_customer(merchant)

    response = merchant.post(f"/v1/customers/{customer['id']}", body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


def test_erasing_shows_the_personal_fields_erased_and_is_idempotent(client: TestClient) -> None:
    merchant = admin(client).merchant()
    customer = new_customer(merchant, metadata={"personal.note": "likes tea", "plan": "gold"})

    first = delete(client, merchant, customer["id"])
    again = delete(client, merchant, customer["id"])

    assert first.status_code == again.status_code == 200
    shown = merchant.get(f"/v1/customers/{customer['id']}").json()
    assert shown == first.json() == again.json()
    assert (shown["name"], shown["email"], shown["erased"]) == (ERASED, ERASED, True)
    assert shown["metadata"] == {"personal.note": ERASED, "plan": "gold"}
    assert (shown["id"], shown["created"]) == (customer["id"], customer["created"])


def test_an_erased_customer_cannot_be_updated(client: TestClient) -> None:
    merchant = admin(client).merchant()
    customer = new_customer(merchant)
    delete(client, merchant, customer["id"])

    response = merchant.post(f"/v1/customers/{customer['id']}", {"name": "Back"})

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("customer_erased")


def test_another_merchants_customer_is_not_found_and_left_alone(client: TestClient) -> None:
    owner, other = admin(client).merchant("Owner"), admin(client).merchant("Other")
    customer = new_customer(owner)

    erased = delete(client, other, customer["id"])
    updated = other.post(f"/v1/customers/{customer['id']}", {"name": "Mallory"})

    assert erased.status_code == updated.status_code == 404
    assert erased.headers["content-type"] == PROBLEM
    assert owner.get(f"/v1/customers/{customer['id']}").json() == customer | {"erased": False}


@pytest.mark.parametrize("customer", ["cus_nothex", "pay_00000000000000000000000000000000"])
def test_a_malformed_id_is_not_found(client: TestClient, customer: str) -> None:
    merchant = admin(client).merchant()

    response = delete(client, merchant, customer)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_the_cli_erases_a_customer(settings: Settings, container: Container) -> None:
    with TestClient(create_app(container)) as client:
        merchant = admin(client).merchant()
        customer = new_customer(merchant)
    env = env_for(settings)

    erased = paysource("customers", "erase", str(customer["id"]), "--yes", env=env)
    unknown = paysource("customers", "erase", "cus_" + "0" * 32, "--yes", env=env)

    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.strip() == f"erased {customer['id']}"
    assert unknown.returncode == 1
    assert "no such customer" in unknown.stderr
    with TestClient(create_app(container)) as client:
        shown = Api(client, merchant.key).get(f"/v1/customers/{customer['id']}").json()
    assert shown["erased"] is True
