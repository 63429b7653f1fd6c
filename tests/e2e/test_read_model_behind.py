"""Over REST, a command whose read model stays behind the log answers 503
`read_model_behind` with Retry-After, and is not taken for a database outage."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from paysource.adapters import sim_files
from paysource.bootstrap import Cell, Container
from paysource.config import Settings
from tests.conftest import ADMIN_KEY
from tests.e2e.test_reconciliation_api import finance, post_file
from tests.helpers import bearer, drain
from tests.integration.test_caught_up import captured_but_not_projected

__all__ = ["finance"]  # a fixture of this module too


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A wait longer than the request's database budget: its pauses are not database time.
    update = {"read_model_wait_s": 1.5, "db_request_budget_s": 1.0, "worker_partitions": 1}
    return settings.model_copy(update=update)


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.directory


def assert_behind(answer: httpx.Response, read_model: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    problem = answer.json()
    assert problem["type"].endswith("/read_model_behind")
    assert f"the {read_model} read model has not caught up" in problem["detail"]


def test_a_settlement_closed_while_the_view_is_behind_is_refused_until_it_caught_up(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = captured_but_not_projected(client, container, cell)
    body = {
        "merchant": merchant.get("/v1/balance").json()["merchant"],
        "currency": "USD",
        "until": datetime.now(UTC).isoformat(),
    }
    staff = bearer(ADMIN_KEY)
    assert container.gate is not None
    probed = container.gate.recoveries

    refused = client.post("/v1/settlements", json=body, headers=staff)
    assert_behind(refused, "settlements")
    time.sleep(0.3)  # an outage report would have had the database probed by now
    assert container.gate.recoveries == probed  # not taken for an outage
    drain(container)
    closed = client.post("/v1/settlements", json=body, headers=staff)

    assert closed.status_code == 201, closed.text
    assert closed.json()["net"] > 0


def test_a_file_imported_while_the_ledger_is_behind_is_refused(
    client: TestClient,
    container: Container,
    cell: Cell,
    finance: dict[str, str],
    database_url: str,
) -> None:
    captured_but_not_projected(client, container, cell)
    text = sim_files.acquirer_file(database_url, datetime.now(UTC).date())

    refused = post_file(client, finance, "acquirer", text)
    assert_behind(refused, "ledger")
    drain(container)
    imported = post_file(client, finance, "acquirer", text)

    assert imported.status_code == 201, imported.text
    assert (imported.json()["matched"], imported.json()["breaks"]) == (1, [])
