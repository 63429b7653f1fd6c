"""`viewer.operations` (the console's operations page) is the admin's alone, and reads
what `paysource jobs`, `projections status` and /metrics read; `relayFailed` lists the
payments behind its count; `nextSettlementCutoff` follows the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.entrypoints.http.graphql.types.operations import next_cutoff
from tests.conftest import ADMIN_KEY
from tests.graphql.helpers import Gql, token
from tests.helpers import admin, drain

OPERATIONS = """{ viewer { operations {
  projections { cell name position head lagEvents lagSeconds }
  jobs { cell name heldBy lagEvents }
  relayFailures
  webhookBacklog { cell pending oldestSeconds }
} } }"""
REFUSED = "{ viewer { payments(filter: {relayFailed: true}) { nodes { id relayFailures } } } }"


def test_only_an_admin_key_sees_operations(client: TestClient, container: Container) -> None:
    api = admin(client).merchant()
    refused = api.pay(800, source="tok_capture_refused").json()["id"]
    api.pay(900)
    drain(container)
    ops = Gql(client, ADMIN_KEY)(OPERATIONS)["viewer"]["operations"]
    assert {p["name"] for p in ops["projections"]} >= {"payments", "ledger", "events"}
    head = ops["projections"][0]["head"]
    assert all(p["position"] <= p["head"] == head for p in ops["projections"])
    assert any(j["name"].endswith("payment-notifier") for j in ops["jobs"]), ops["jobs"]
    assert ops["relayFailures"] == 1
    assert ops["webhookBacklog"][0]["pending"] >= 0
    staff = [
        admin(client).post("/v1/api_keys", {"role": role}).json()["api_key"]
        for role in ("finance", "auditor")
    ]
    for credential in [api.key, token(api), *staff]:
        assert Gql(client, credential)(OPERATIONS) == {"viewer": {"operations": None}}
    listed = Gql(client, api.key)(REFUSED)["viewer"]["payments"]["nodes"]
    assert listed == [{"id": refused, "relayFailures": ["capture"]}]


def test_the_next_settlement_cutoff_follows_the_schedule(settings: Settings) -> None:
    now = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    daily = settings.model_copy(update={"settlement_schedule": "daily@17:30"})
    assert next_cutoff(daily, now) == now.replace(hour=17, minute=30) + timedelta(days=1)
    early = settings.model_copy(update={"settlement_schedule": "daily@20:00"})
    assert next_cutoff(early, now) == now.replace(hour=20)
    assert next_cutoff(settings.model_copy(update={"settlement_schedule": "off"}), now) is None
