"""Two cells on two Postgres clusters (issue 15): merchants are placed on both, and
each merchant's payments, refunds, settlements, reads and webhooks stay in its cell;
staff lists merge both cells' pages.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from devtools.localservices import LocalPostgres, free_port
from paysource.adapters.postgres.migrations import migrate
from paysource.application.ids import Kind, decode
from paysource.bootstrap import Container, build_container
from paysource.config import MIGRATIONS_DIR, Settings
from paysource.entrypoints.http.app import create_app
from tests.e2e.test_cli import env_for, paysource
from tests.helpers import Api, admin, drain

pytestmark = pytest.mark.slow

_numbers = itertools.count()


@pytest.fixture(scope="module")
def second_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with LocalPostgres.start(tmp_path_factory.mktemp("cell1"), ephemeral=True) as server:
        yield server


@pytest.fixture
def cell_1_url(second_cluster: LocalPostgres) -> Iterator[str]:
    name = f"cell1_{next(_numbers)}"
    with psycopg.connect(second_cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = second_cluster.url.rsplit("/", 1)[0] + f"/{name}"
    migrate(url, MIGRATIONS_DIR)
    yield url
    with psycopg.connect(second_cluster.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def two_cells(settings: Settings, cell_1_url: str) -> Iterator[Container]:
    built = build_container(
        settings.model_copy(update={"cells": SecretStr(f"cell-1={cell_1_url}")})
    )
    yield built
    built.close()


@pytest.fixture
def client(two_cells: Container) -> Iterator[TestClient]:
    with TestClient(create_app(two_cells)) as test_client:
        yield test_client


def merchant_in(client: TestClient, cell: str | None, name: str) -> tuple[Api, str]:
    body = {"name": name} if cell is None else {"name": name, "cell": cell}
    made = admin(client).post("/v1/merchants", body)
    assert made.status_code == 201, made.text
    return Api(client, made.json()["api_key"]), made.json()["id"]


def trade(merchant: Api) -> list[str]:
    """A payment refunded in part, and a webhook endpoint: objects of every kind."""
    paid = merchant.pay(5000)
    assert paid.status_code in (201, 202), paid.text
    hook = merchant.post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/h", "events": ["*"]})
    assert hook.status_code == 201, hook.text
    return [paid.json()["id"], hook.json()["id"]]


def payment_ids_in(url: str) -> set[UUID]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_id FROM paysource_events"
            " WHERE originator_version = 1 AND topic LIKE %s",
            ("%Payment.Created",),
        ).fetchall()
    return {row[0] for row in rows}


def created_in(url: str, aggregate: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM paysource_events WHERE originator_version = 1 AND topic LIKE %s",
            (f"%:{aggregate}.%",),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_each_merchants_objects_stay_in_its_cell_and_staff_lists_merge_both(
    client: TestClient, two_cells: Container, database_url: str, cell_1_url: str
) -> None:
    a, a_id = merchant_in(client, "cell-0", "A")
    b, b_id = merchant_in(client, "cell-1", "B")
    a_pay, _ = trade(a)
    b_pay, _ = trade(b)
    drain(two_cells)
    for merchant in (a, b):
        payment = merchant.get("/v1/payments", limit=10).json()["data"][0]
        refund = merchant.post(
            "/v1/refunds", {"payment": payment["id"], "amount": 100}, Idempotency_Key=payment["id"]
        )
        assert refund.status_code in (201, 202), refund.text
    drain(two_cells)

    assert payment_ids_in(database_url) == {decode(Kind.PAYMENT, a_pay)}
    assert payment_ids_in(cell_1_url) == {decode(Kind.PAYMENT, b_pay)}
    # Reads go to the merchant's cell; another merchant's object is not found.
    assert b.get(f"/v1/payments/{b_pay}").json()["status"] == "succeeded"
    assert a.get(f"/v1/payments/{b_pay}").status_code == 404
    query = "{ viewer { payments(first: 10) { nodes { id } } } }"
    nodes = b.post("/graphql", {"query": query}).json()["data"]["viewer"]["payments"]["nodes"]
    assert [node["id"] for node in nodes] == [b_pay]
    # Staff see both cells' payments in one list, page by page.
    first = admin(client).get("/v1/payments", limit=1).json()
    second = admin(client).get("/v1/payments", limit=1, starting_after=first["data"][0]["id"])
    listed = {first["data"][0]["id"], second.json()["data"][0]["id"]}
    assert listed == {a_pay, b_pay}
    assert second.json()["has_more"] is False
    until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    time.sleep(1.2)  # the cut-off must have passed
    for merchant_id in (a_id, b_id):
        body = {"merchant": merchant_id, "currency": "USD", "until": until}
        settled = admin(client).post("/v1/settlements", body, Idempotency_Key=merchant_id)
        assert settled.status_code in (200, 201, 202), settled.text
    drain(two_cells)
    # Refunds, webhook endpoints and settlements, too, are each in their merchant's cell.
    for url in (database_url, cell_1_url):
        assert created_in(url, "WebhookEndpoint") == 1
        assert created_in(url, "Refund") == 1
        assert created_in(url, "Settlement") == 1
    assert len(b.get("/v1/settlements").json()["data"]) == 1


def test_new_merchants_go_to_the_least_loaded_cell(
    client: TestClient, two_cells: Container
) -> None:
    placements = two_cells.router.placements
    assert placements is not None
    for n in range(4):
        merchant_in(client, None, f"M{n}")
    assert placements.counts() == {"cell-0": 2, "cell-1": 2}


def test_an_unknown_cell_is_a_problem(client: TestClient) -> None:
    made = admin(client).post("/v1/merchants", {"name": "X", "cell": "cell-9"})
    assert made.status_code == 422, made.text
    assert made.headers["content-type"].startswith("application/problem+json")


def test_the_cells_command_lists_both_cells_and_their_merchants(
    client: TestClient, settings: Settings, cell_1_url: str
) -> None:
    merchant_in(client, "cell-1", "B")
    env = {**env_for(settings), "PAYSOURCE_CELLS": f"cell-1={cell_1_url}"}
    listed = paysource("cells", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines() if "cell-" in line]
    assert [(row[0], row[-1]) for row in rows] == [("cell-0", "0"), ("cell-1", "1")], listed.stdout


def test_cells_status_shows_each_cell_and_fails_when_one_is_down(
    client: TestClient, settings: Settings, cell_1_url: str
) -> None:
    merchant_in(client, "cell-1", "B")
    dead = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/nothing"
    env = {**env_for(settings), "PAYSOURCE_CELLS": f"cell-1={cell_1_url}", "COLUMNS": "80"}
    up = paysource("cells", "status", env=env)
    assert up.returncode == 0, up.stderr
    # At 80 columns: nothing squeezed to "…", and the table fits (the URLs are below it).
    assert "…" not in up.stdout, up.stdout
    table, databases = up.stdout.split("\n\n", 1)
    assert max(len(line) for line in table.splitlines()) <= 80, up.stdout
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert rows["cell-0"][1:2] == ["primary"], up.stdout
    assert rows["cell-0"][3] == "0", up.stdout  # merchants placed, per cell
    assert rows["cell-1"][1] == "primary", up.stdout
    assert rows["cell-1"][3] == "1", up.stdout
    assert f"  cell-1  {cell_1_url}" in databases.splitlines(), up.stdout

    env["PAYSOURCE_CELLS"] += f";cell-2={dead}"
    one_down = paysource("cells", "status", env=env)
    assert one_down.returncode == 1, one_down.stdout
    assert "DOWN" in one_down.stdout
    assert "cell-2 postgresql://app:***@" in one_down.stderr  # and why it is down
    assert "down: cell-2" in one_down.stderr
    assert "hunter2" not in one_down.stdout + one_down.stderr
