"""/metrics through prometheus-client, behind the admin key: request counts and
latencies by route template, business figures, backlog, health. (Issue 14, item 10.)"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from paysource.bootstrap import Container
from paysource.config import Settings
from tests.helpers import Api, admin, drain

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # One pipeline partition, as `drain` runs it.
    return settings.model_copy(update={"worker_partitions": 1})


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


def scrape(client: TestClient) -> Samples:
    response = admin(client).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


@pytest.mark.parametrize("key", [None, "merchant"])
def test_metrics_need_the_admin_key(client: TestClient, merchant: Api, key: str | None) -> None:
    headers = {} if key is None else {"Authorization": f"Bearer {merchant.key}"}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == (401 if key is None else 403)
    assert "paysource_" not in response.text


def test_requests_are_counted_by_route_template_and_status(
    client: TestClient, merchant: Api
) -> None:
    payment_id = merchant.pay(1500).json()["id"]
    merchant.get(f"/v1/payments/{payment_id}")
    merchant.get("/v1/payments/pay_" + "0" * 32)

    samples = scrape(client)

    requests = samples["paysource_http_requests_total"]
    route = "/v1/payments/{payment_id}"
    assert requests[labels(method="POST", route="/v1/payments", status="202")] == 1
    assert requests[labels(method="GET", route=route, status="200")] == 1
    assert requests[labels(method="GET", route=route, status="404")] == 1
    assert not any(payment_id in dict(key)["route"] for key in requests)
    counts = samples["paysource_http_request_duration_seconds_count"]
    assert counts[labels(method="GET", route=route, status="200")] == 1


def test_business_backlog_and_health_figures_follow_the_log(
    client: TestClient, merchant: Api, container: Container
) -> None:
    cell = container.router.all()[0].name
    merchant.pay(1500)
    merchant.pay(2500, source="tok_decline")

    before = scrape(client)
    drain(container)
    after = scrape(client)

    partition = labels(cell=cell, partition="processor-0-of-1")
    assert before["paysource_processor_backlog_events"] == {partition: 2}
    assert after["paysource_processor_backlog_events"] == {partition: 0}
    assert after["paysource_processor_lag_seconds"] == {partition: 0}
    payments = after["paysource_payments_by_status"]
    assert payments[labels(cell=cell, status="succeeded", currency="USD")] == 1
    assert sum(payments.values()) == 2
    assert after["paysource_projection_lag_events"][labels(cell=cell, projection="payments")] == 0
    assert after["paysource_postgres_up"] == {labels(cell=cell): 1}
    assert after["paysource_redis_up"] == {labels(): 1}
    assert after["paysource_webhook_deliveries_pending"] == {labels(cell=cell): 0}


def test_group_commit_batch_sizes_are_a_histogram(client: TestClient, merchant: Api) -> None:
    merchant.pay(1500)
    merchant.pay(1700)

    samples = scrape(client)

    # The merchant's creation and two payments at least, in batches of one or more.
    assert samples["paysource_group_commit_batch_size_sum"][labels()] >= 3
    assert samples["paysource_group_commit_batch_size_count"][labels()] >= 1
