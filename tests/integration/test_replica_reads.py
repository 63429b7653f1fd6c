"""Hot-standby reads (issue 15): a primary and a streaming replica, both started here.

Lists (REST and GraphQL) and reports are served by the replica while its replay is
within the bound of the primary, and by the primary once it lags past it (replay
paused); single-object reads always see the caller's own writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from devtools.localreplica import LocalReplica
from devtools.localservices import LocalPostgres
from paysource.adapters.postgres.migrations import migrate
from paysource.bootstrap import Container, build_container
from paysource.config import MIGRATIONS_DIR, Settings
from paysource.entrypoints.http.app import create_app
from tests.e2e.test_cli import env_for, paysource
from tests.helpers import Api, admin, drain

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with LocalPostgres.start(tmp_path_factory.mktemp("primary"), ephemeral=True) as server:
        migrate(server.url, MIGRATIONS_DIR)
        yield server


@pytest.fixture(scope="module")
def replica(primary: LocalPostgres) -> Iterator[LocalReplica]:
    with LocalReplica.start(primary) as standby:
        yield standby


def served(
    settings: Settings, primary: LocalPostgres, replica: LocalReplica, bound_s: float
) -> Container:
    return build_container(
        settings.model_copy(
            update={
                "database_url": primary.url,
                "read_replica_urls": SecretStr(replica.url),
                "replica_max_lag_s": bound_s,
            }
        )
    )


@pytest.fixture
def replayed(replica: LocalReplica) -> Iterator[LocalReplica]:
    replica.resume_replay()
    yield replica
    replica.resume_replay()


def wait_fresh(container: Container) -> None:
    route = container.router.directory.replicas
    assert route is not None
    deadline = time.monotonic() + 20
    while not route.replicas[0][1].fresh():
        assert time.monotonic() < deadline, "the replica never became fresh"
        time.sleep(0.05)


def listed(merchant: Api) -> set[str]:
    return {p["id"] for p in merchant.get("/v1/payments", limit=100).json()["data"]}


def graphql_listed(merchant: Api) -> set[str]:
    query = "{ viewer { payments(first: 100) { nodes { id } } } }"
    answer = merchant.post("/graphql", {"query": query}).json()
    return {node["id"] for node in answer["data"]["viewer"]["payments"]["nodes"]}


def test_lists_come_from_a_replica_within_the_bound_and_own_writes_are_always_seen(
    settings: Settings, primary: LocalPostgres, replayed: LocalReplica
) -> None:
    container = served(settings, primary, replayed, bound_s=60.0)  # a lag it tolerates
    try:
        with TestClient(create_app(container)) as client:
            merchant = admin(client).merchant()
            first = merchant.pay(1000).json()["id"]
            drain(container)
            wait_fresh(container)
            assert first in listed(merchant)

            replayed.pause_replay()
            second = merchant.pay(2000).json()["id"]
            drain(container)

            # The paused replica is within 60 s of the primary: lists read it, and miss
            # the newest payment; the payment itself is read from the primary.
            assert listed(merchant) == {first}
            assert graphql_listed(merchant) == {first}
            assert merchant.get(f"/v1/payments/{second}").status_code == 200
            route = container.router.directory.replicas
            assert route is not None
            assert route.reads["replica"] >= 3
    finally:
        container.close()


def test_lists_move_to_the_primary_when_the_replica_lags_past_the_bound(
    settings: Settings, primary: LocalPostgres, replayed: LocalReplica
) -> None:
    container = served(settings, primary, replayed, bound_s=0.3)
    try:
        with TestClient(create_app(container)) as client:
            merchant = admin(client).merchant()
            merchant.pay(1000)
            drain(container)
            wait_fresh(container)
            replayed.pause_replay()
            late = merchant.pay(3000).json()["id"]
            drain(container)
            time.sleep(1.0)  # past the bound: the replica now lags too far

            assert late in listed(merchant)
            assert late in graphql_listed(merchant)
            today = datetime.now(UTC).date().isoformat()
            route = container.router.directory.replicas
            assert route is not None
            from_primary = route.reads["primary"]
            report = merchant.get("/v1/reports/daily-volume", **{"from": today, "to": today})
            assert report.status_code == 200, report.text
            assert route.reads["primary"] == from_primary + 1  # the report: primary too

            replayed.resume_replay()
            wait_fresh(container)  # and back to the replica once it has caught up
            assert late in listed(merchant)
    finally:
        container.close()


def test_no_replica_configured_reads_the_primary(container: Container, tmp_path: Path) -> None:
    assert container.router.directory.replicas is None
    del tmp_path


def test_cells_status_shows_the_standby_under_its_cell(
    settings: Settings, primary: LocalPostgres, replayed: LocalReplica
) -> None:
    env = {
        **env_for(settings.model_copy(update={"database_url": primary.url})),
        "PAYSOURCE_READ_REPLICA_URLS": replayed.url,
        "COLUMNS": "80",
    }
    shown = paysource("cells", "status", env=env)
    assert shown.returncode == 0, shown.stderr
    table, databases = shown.stdout.split("\n\n", 1)
    lines = [line.split() for line in table.splitlines()]
    states = [(row[0], row[1]) for row in lines if row[0] in {"cell-0", "standby-1"}]
    assert states == [("cell-0", "primary"), ("standby-1", "standby")], shown.stdout
    assert "  cell-0 standby-1  postgresql://" in databases, shown.stdout
