"""/metrics speaks Prometheus' text format for any number of cells, as read back by
prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from paysource.entrypoints.metrics import CellFigures, Metrics
from paysource.readmodels.figures import Lag, StatusCount
from paysource.readmodels.maintenance import Status


def cell(name: str, relay_failed: int, *, up: bool = True) -> CellFigures:
    statuses = [
        Status("payments", position=10, head=12, lag_events=2, lag_seconds=0.5),
        Status("ledger", position=12, head=12, lag_events=0, lag_seconds=0.0),
    ]
    return CellFigures(
        name=name,
        statuses=statuses,
        relay_failed=relay_failed,
        up=up,
        objects=[
            StatusCount("payment", "succeeded", "EUR", 7),
            StatusCount("payment", "failed", "USD", 1),
            StatusCount("refund", "succeeded", "EUR", 2),
            StatusCount("settlement", "paid", "EUR", 1),
        ],
        processors=[Lag("processor-0-of-1", position=3, events=4, seconds=1.5)],
        webhook_pending=5,
        webhook_oldest_s=12.0,
        items_held=[("capture_unconfirmed", 4), ("capture_refused", 1)],
    )


def scrape(metrics: Metrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{metric family: {sorted labels: value}} of every sample, as Prometheus reads it."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(metrics.text().decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def fixed(cells: list[CellFigures], redis_up: bool | None = True) -> Metrics:
    return Metrics(lambda: (cells, redis_up))


def test_the_figures_of_every_cell_and_projection_parse_as_prometheus_reads_them() -> None:
    samples = scrape(fixed([cell("c0", 0), cell("c1", 3)]))

    lag = samples["paysource_projection_lag_events"]
    assert lag[(("cell", "c1"), ("projection", "payments"))] == 2
    assert (
        samples["paysource_projection_position"][(("cell", "c0"), ("projection", "ledger"))] == 12
    )
    assert samples["paysource_payments_relay_failed"] == {
        (("cell", "c0"),): 0,
        (("cell", "c1"),): 3,
    }
    assert len(lag) == 2 * 2
    held = samples["paysource_settlement_items_held"]
    assert held[(("cell", "c1"), ("hold", "capture_unconfirmed"))] == 4
    assert held[(("cell", "c0"), ("hold", "capture_refused"))] == 1


def test_business_backlog_and_health_figures_are_labelled_by_cell_status_and_currency() -> None:
    samples = scrape(fixed([cell("c0", 0), cell("c1", 0, up=False)], redis_up=False))

    payments = samples["paysource_payments_by_status"]
    assert payments[(("cell", "c0"), ("currency", "EUR"), ("status", "succeeded"))] == 7
    assert (("cell", "c0"), ("currency", "EUR"), ("status", "paid")) in samples[
        "paysource_settlements_by_status"
    ]
    backlog = samples["paysource_processor_backlog_events"]
    assert backlog[(("cell", "c0"), ("partition", "processor-0-of-1"))] == 4
    assert samples["paysource_webhook_deliveries_pending"][(("cell", "c0"),)] == 5
    assert samples["paysource_webhook_oldest_pending_seconds"][(("cell", "c0"),)] == 12
    assert samples["paysource_postgres_up"] == {(("cell", "c0"),): 1, (("cell", "c1"),): 0}
    assert samples["paysource_redis_up"] == {(): 0}


def test_requests_are_counted_and_timed_by_route_template_and_status() -> None:
    metrics = fixed([])
    metrics.observe_request("GET", "/v1/payments/{payment_id}", 200, 0.004)
    metrics.observe_request("GET", "/v1/payments/{payment_id}", 200, 0.3)
    metrics.observe_request("POST", "/v1/payments", 422, 0.01)

    samples = scrape(metrics)

    labels = (("method", "GET"), ("route", "/v1/payments/{payment_id}"), ("status", "200"))
    assert samples["paysource_http_requests_total"][labels] == 2
    assert samples["paysource_http_request_duration_seconds_count"][labels] == 2
    buckets = samples["paysource_http_request_duration_seconds_bucket"]
    assert buckets[tuple(sorted((*labels, ("le", "0.005"))))] == 1


def test_group_commit_batch_sizes_appear_once_the_hook_is_called() -> None:
    metrics = fixed([])
    assert "paysource_group_commit_batch_size_count" not in scrape(metrics)

    metrics.observe_group_commit(12)

    assert scrape(metrics)["paysource_group_commit_batch_size_count"] == {(): 1}
