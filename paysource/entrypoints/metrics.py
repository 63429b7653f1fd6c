"""Prometheus metrics through prometheus-client (docs/observability.md lists them).

Two kinds:
- the API process's own: request counts and latencies (`HttpMetrics`), in memory;
- figures read at scrape time from the cells (`FiguresCollector`): projection,
  processor and webhook backlog and lag, objects by status and currency, Postgres and
  Redis health. Read when scraped, they agree whichever process serves them.

Each app gets its own registry (not the global one): tests and a process that builds
two apps must not collide on metric names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paysource.bootstrap import Cell, Container
from paysource.processes.pipeline import PaymentProcessor, payment_topics
from paysource.readmodels.figures import Lag, StatusCount, lag, status_counts
from paysource.readmodels.maintenance import Status, status

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: from a cached replay (~1 ms) to a `Prefer: wait` that waited its limit.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True, slots=True)
class CellFigures:
    name: str
    statuses: list[Status]
    relay_failed: int
    up: bool = True
    objects: list[StatusCount] = field(default_factory=list)
    processors: list[Lag] = field(default_factory=list)
    webhook_pending: int = 0
    webhook_oldest_s: float = 0.0
    breaks_open: list[tuple[str, str, int]] = field(default_factory=list)  # source, kind, n
    items_held: list[tuple[str, int]] = field(default_factory=list)  # hold, n


class Metrics:
    """One app's registry and the metrics the API records as it serves."""

    def __init__(self, gather: Callable[[], tuple[list[CellFigures], bool | None]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "paysource_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "paysource_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(FiguresCollector(gather))
        # Several API processes share a port (`serve --processes`): each scrape is
        # answered by one of them, and its request counters are that process's own.
        Info(
            "paysource_api_process",
            "The API process that answered this scrape.",
            registry=self.registry,
        ).info({"pid": str(os.getpid())})
        self._batch_sizes: Histogram | None = None

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def observe_group_commit(self, size: int) -> None:
        """Each group commit's size (create_app registers it with every cell's store).
        Made on first use, so a process that commits nothing shows no empty histogram."""
        if self._batch_sizes is None:
            self._batch_sizes = Histogram(
                "paysource_group_commit_batch_size",
                "Commands committed together in one group commit.",
                buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
                registry=self.registry,
            )
        self._batch_sizes.observe(size)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class FiguresCollector(Collector):
    def __init__(self, gather: Callable[[], tuple[list[CellFigures], bool | None]]) -> None:
        self._gather = gather

    def collect(self) -> Iterator[Metric]:
        cells, redis_up = self._gather()
        return iter(families(cells, redis_up))

    def describe(self) -> Iterator[Metric]:
        return iter(())  # figures are read when scraped, never at registration


def families(cells: Sequence[CellFigures], redis_up: bool | None) -> list[Metric]:
    found = [*_projection_families(cells), *_backlog_families(cells), *_object_families(cells)]
    found.append(_breaks_family(cells))
    found.append(_held_family(cells))
    up = GaugeMetricFamily(
        "paysource_postgres_up", "1 when the cell's Postgres answered this scrape.", labels=["cell"]
    )
    for cell in cells:
        up.add_metric([cell.name], int(cell.up))
    found.append(up)
    if redis_up is not None:
        found.append(
            GaugeMetricFamily("paysource_redis_up", "1 when Redis answers a ping.", int(redis_up))
        )
    return found


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def _projection_families(cells: Sequence[CellFigures]) -> list[Metric]:
    kinds = {
        "position": "Log position the projection has applied.",
        "lag_events": "Events the projection has yet to apply.",
        "lag_seconds": "Age of the oldest event the projection has yet to apply.",
    }
    found: list[Metric] = []
    for kind, documentation in kinds.items():
        gauge = _gauge(f"paysource_projection_{kind}", documentation, ["cell", "projection"])
        for cell in cells:
            for s in cell.statuses:
                gauge.add_metric([cell.name, s.name], getattr(s, kind))
        found.append(gauge)
    relay = _gauge(
        "paysource_payments_relay_failed",
        "Payments with a decision the acquirer refused to carry out.",
        ["cell"],
    )
    for cell in cells:
        relay.add_metric([cell.name], cell.relay_failed)
    return [*found, relay]


def _backlog_families(cells: Sequence[CellFigures]) -> list[Metric]:
    events = _gauge(
        "paysource_processor_backlog_events",
        "Payment and refund events a pipeline partition has yet to read (each reads all"
        " of them and handles its share).",
        ["cell", "partition"],
    )
    seconds = _gauge(
        "paysource_processor_lag_seconds",
        "Age of the oldest event a pipeline partition has yet to read.",
        ["cell", "partition"],
    )
    pending = _gauge(
        "paysource_webhook_deliveries_pending", "Webhook deliveries not yet done.", ["cell"]
    )
    oldest = _gauge(
        "paysource_webhook_oldest_pending_seconds",
        "Age of the oldest webhook delivery not yet done.",
        ["cell"],
    )
    for cell in cells:
        for partition in cell.processors:
            events.add_metric([cell.name, partition.name], partition.events)
            seconds.add_metric([cell.name, partition.name], partition.seconds)
        pending.add_metric([cell.name], cell.webhook_pending)
        oldest.add_metric([cell.name], cell.webhook_oldest_s)
    return [events, seconds, pending, oldest]


def _object_families(cells: Sequence[CellFigures]) -> list[Metric]:
    gauges = {
        kind: _gauge(
            f"paysource_{kind}s_by_status",
            f"{kind.capitalize()}s by status (outcome) and currency, from the read models.",
            ["cell", "status", "currency"],
        )
        for kind in ("payment", "refund", "settlement")
    }
    for cell in cells:
        for count in cell.objects:
            gauges[count.kind].add_metric([cell.name, count.status, count.currency], count.count)
    return list(gauges.values())


def _breaks_family(cells: Sequence[CellFigures]) -> Metric:
    gauge = _gauge(
        "paysource_reconciliation_breaks_open",
        "Reconciliation breaks no later file has cleared, by source and kind.",
        ["cell", "source", "kind"],
    )
    for cell in cells:
        for source, kind, count in cell.breaks_open:
            gauge.add_metric([cell.name, source, kind], count)
    return gauge


def _held_family(cells: Sequence[CellFigures]) -> Metric:
    gauge = _gauge(
        "paysource_settlement_items_held",
        "Unsettled items held out of settlements, by hold: capture_unconfirmed grows while "
        "the acquirer does not answer captures; capture_refused waits for resolve-relay.",
        ["cell", "hold"],
    )
    for cell in cells:
        for hold, count in cell.items_held:
            gauge.add_metric([cell.name, hold], count)
    return gauge


# Gathering, at scrape time ---------------------------------------------------------


def gatherer(container: Container) -> Callable[[], tuple[list[CellFigures], bool | None]]:
    def gather() -> tuple[list[CellFigures], bool | None]:
        cells = [cell_figures(container, cell) for cell in container.router.all()]
        redis_up = None if container.cache is None else container.cache.ping()
        return cells, redis_up

    return gather


def cell_figures(container: Container, cell: Cell) -> CellFigures:
    try:
        return _read_figures(container, cell)
    except Exception as error:  # noqa: BLE001  # a cell down is a figure, not a failed scrape
        log.warning("metrics: cell %s unreadable: %s", cell.name, type(error).__name__)
        return CellFigures(name=cell.name, statuses=[], relay_failed=0, up=False)


def _read_figures(container: Container, cell: Cell) -> CellFigures:
    datastore = cell.read.datastore
    partitions = container.settings.worker_partitions
    topics = payment_topics()
    names = [PaymentProcessor.partition_name(n, partitions) for n in range(partitions)]
    pending, oldest_s = (0, 0.0)
    if container.webhooks is not None:
        pending, oldest_s = container.webhooks.for_cell(cell).queue.backlog()
    return CellFigures(
        name=cell.name,
        statuses=status(cell.store, datastore),
        relay_failed=cell.read.payments.count_relay_failed(),
        objects=status_counts(datastore),
        processors=[lag(cell.store, datastore, name, topics) for name in names],
        webhook_pending=pending,
        webhook_oldest_s=oldest_s,
        breaks_open=[
            (row["source"], row["kind"], row["count"])
            for row in cell.read.reconciliation.open_by_kind()
        ],
        items_held=cell.read.settlements.held_items(),
    )
