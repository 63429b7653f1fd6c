"""A decision the acquirer refuses (a capture of a lapsed hold) is shown to people:
on the payment, in a filtered list, in /metrics and in GraphQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.helpers import Api, admin, drain


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


def refused_and_fine(merchant: Api, container: Container) -> tuple[str, str]:
    refused = merchant.pay(1200, source="tok_capture_refused").json()["id"]
    fine = merchant.pay(1300).json()["id"]
    drain(container)
    return refused, fine


def test_a_refused_capture_is_listed_on_the_payment_from_both_sides(
    merchant: Api, container: Container
) -> None:
    refused, fine = refused_and_fine(merchant, container)

    # The write side (GET one) and the read model (lists) say the same.
    payment = merchant.get(f"/v1/payments/{refused}").json()
    assert (payment["status"], payment["relay_failures"]) == ("succeeded", ["capture"])
    assert merchant.get(f"/v1/payments/{fine}").json()["relay_failures"] == []
    listed = {p["id"]: p["relay_failures"] for p in merchant.get("/v1/payments").json()["data"]}
    assert listed == {refused: ["capture"], fine: []}
    events = merchant.get(f"/v1/payments/{refused}/events").json()["data"]
    assert events[-1]["type"] == "Payment.RelayFailed"
    assert events[-1]["data"]["operation"] == "capture"


def test_payments_can_be_filtered_by_relay_failures(
    client: TestClient, merchant: Api, container: Container
) -> None:
    refused, fine = refused_and_fine(merchant, container)
    other_refused, _ = refused_and_fine(admin(client).merchant("Other"), container)

    def ids(flag: str) -> list[str]:
        answer = merchant.get("/v1/payments", relay_failed=flag)
        assert answer.status_code == 200, answer.text
        return [p["id"] for p in answer.json()["data"]]

    assert ids("true") == [refused]
    assert ids("false") == [fine]
    assert merchant.get("/v1/payments", relay_failed="maybe").status_code == 422
    # Operations (admin, finance) see every merchant's.
    everyone = admin(client).get("/v1/payments", relay_failed="true").json()["data"]
    assert [p["id"] for p in everyone] == [other_refused, refused]


def test_metrics_count_payments_with_relay_failures(
    client: TestClient, merchant: Api, container: Container
) -> None:
    refused_and_fine(merchant, container)
    merchant.pay(900, source="tok_capture_refused")
    drain(container)

    # /metrics needs the admin key since issue 14; prometheus-client writes floats.
    text = admin(client).get("/metrics").text

    cell = container.router.all()[0].name
    assert f'paysource_payments_relay_failed{{cell="{cell}"}} 2.0' in text.splitlines()
    assert text.count("# TYPE paysource_projection_lag_events gauge") == 1


def test_graphql_shows_relay_failures_to_the_merchant(merchant: Api, container: Container) -> None:
    refused, _ = refused_and_fine(merchant, container)

    answer = merchant.post(
        "/graphql",
        {
            "query": "query($id: ID!) { payment(id: $id) { ... on Payment { relayFailures } } }",
            "variables": {"id": refused},
        },
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"data": {"payment": {"relayFailures": ["capture"]}}}
