"""A merchant paid in its settlement currency (issue 11): USD payments settled in EUR
at a loaded, recorded rate; the ledger balanced per currency with the FX rounding in
its own account; with no rate, the settlement waits and says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from fastapi.testclient import TestClient

from paysource.adapters.bank_sim import BankBehaviour, SimulatedBank
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.bootstrap import Container
from paysource.processes.payouts import PayoutProcessor, PayoutRetry
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.maintenance import rebuild, verify
from tests.e2e.test_reports import as_csv, csv_rows
from tests.graphql.helpers import Gql
from tests.helpers import Api, admin, drain

RATES = "base,quote,rate,valid_from\nUSD,EUR,0.9215,{valid_from}\n"
WAITING = (
    "{ viewer { settlements(first: 5, filter: {status: AWAITING_RATE}) { edges { node {"
    " id status waitingReason payout { amountMinor currency } fx { rate } } } } } }"
)
CONVERTED = (
    "{ viewer { settlements(first: 5) { edges { node { id status net { amountMinor currency }"
    " payout { amountMinor currency } fx { pair rate rateValidFrom"
    " difference { amountMinor currency } } } } } } }"
)


def euro_merchant(client: TestClient) -> tuple[Api, str]:
    response = admin(client).post("/v1/merchants", {"name": "Euro", "settlement_currency": "EUR"})
    assert response.status_code == 201, response.text
    body = response.json()
    return Api(client, body["api_key"]), body["id"]


def pay_out(container: Container) -> None:
    for cell in container.router.all():
        processor = PayoutProcessor(
            cell.store, container.bank, container.clock, retry=PayoutRetry(2, 0.01)
        )
        run_until_caught_up(Follower(cell.store, processor, wakeup=Wakeup()))
    drain(container)


def unbalanced_entries(container: Container) -> list[Any]:
    """Entries whose debits and credits differ in some currency and phase."""
    with psycopg.connect(container.router.directory.database_url) as conn:
        return conn.execute(
            "SELECT entry_id, currency, phase FROM postings GROUP BY entry_id, currency, phase"
            " HAVING sum(CASE side WHEN 'D' THEN amount_minor ELSE -amount_minor END) <> 0"
        ).fetchall()


def posted(container: Container, account: str, currency: str) -> int:
    """An account's posted debits - credits."""
    with psycopg.connect(container.router.directory.database_url) as conn:
        row = conn.execute(
            "SELECT debits_posted - credits_posted, debits_pending - credits_pending"
            " FROM ledger_accounts WHERE account = %s AND currency = %s",
            (account, currency),
        ).fetchone()
    assert row is not None, (account, currency)
    assert row[1] == 0, (account, currency, row)  # nothing left pending
    return int(row[0])


def test_usd_payments_settle_in_eur_at_the_recorded_rate_or_wait_for_one(
    client: TestClient, container: Container
) -> None:
    merchant, merchant_ref = euro_merchant(client)
    for amount in (10_000, 4_000):
        assert merchant.pay(amount).status_code in (200, 201, 202)
    drain(container)
    until = datetime.now(UTC)
    request = {"merchant": merchant_ref, "currency": "USD", "until": until.isoformat()}

    # No USD→EUR rate: an explicit request is a problem, and the settlement waits, saying why.
    waiting = admin(client).post("/v1/settlements", request)
    assert waiting.status_code == 409, waiting.text
    problem = waiting.json()
    assert problem["type"].endswith("/rate_unavailable")
    assert problem["pair"] == "USD/EUR"
    assert "paysource rates load" in problem["detail"]
    drain(container)
    shown = merchant.get(f"/v1/settlements/{problem['settlement']}").json()
    assert (shown["status"], shown["payout_currency"]) == ("awaiting_rate", "USD")
    assert "USD/EUR" in shown["waiting_reason"]
    listed = merchant.get("/v1/settlements", status="awaiting_rate").json()["data"]
    assert [s["id"] for s in listed] == [problem["settlement"]]
    [node] = [
        e["node"] for e in Gql(client, merchant.key)(WAITING)["viewer"]["settlements"]["edges"]
    ]
    assert (node["status"], node["fx"]) == ("AWAITING_RATE", None)
    assert "USD/EUR" in node["waitingReason"]
    assert admin(client).post("/v1/settlements", request).status_code == 409  # still waits

    # The operator loads a rate valid at the cut-off; asking again closes and converts.
    valid_from = (until - timedelta(hours=1)).isoformat()
    container.router.directory.rates.load(RATES.format(valid_from=valid_from), source="t.csv")
    closed = admin(client).post("/v1/settlements", request)
    assert closed.status_code == 201, closed.text
    settlement = closed.json()
    assert settlement["id"] == problem["settlement"]  # the same settlement, no longer waiting
    # Nets 9680 and 3854 USD (2.9 % + 0.30): 8920 + 3551 EUR item by item, 12472 as a whole.
    assert (settlement["currency"], settlement["net"]) == ("USD", 13_534)
    assert (settlement["payout_currency"], settlement["payout"]) == ("EUR", 12_472)
    assert [item["net_converted"] for item in settlement["items"]] == [8_920, 3_551]
    assert settlement["fx"]["pair"] == "USD/EUR"
    assert settlement["fx"]["rate"] == "0.9215"  # the recorded rate, exact
    assert settlement["fx"]["difference"] == 1

    pay_out(container)
    bank = container.bank
    assert isinstance(bank, SimulatedBank)
    [payout] = bank.payouts(key_prefix=str(UUID(hex=settlement["id"].removeprefix("stl_"))))
    assert (payout["currency"], payout["amount_minor"]) == ("EUR", 12_472)
    edges = Gql(client, merchant.key)(CONVERTED)["viewer"]["settlements"]["edges"]
    node = edges[0]["node"]
    assert node["status"] == "PAID"
    assert node["payout"] == {"amountMinor": "12472", "currency": "EUR"}
    assert node["net"] == {"amountMinor": "13534", "currency": "USD"}
    assert (node["fx"]["pair"], node["fx"]["rate"]) == ("USD/EUR", "0.9215")
    assert node["fx"]["difference"] == {"amountMinor": "1", "currency": "EUR"}

    # The books: every entry balances per currency; each currency's accounts sum to zero;
    # the merchant owes nothing in either; the rounding sits in fx_gains_losses.
    assert unbalanced_entries(container) == []
    mid = UUID(hex=merchant_ref.removeprefix("mer_"))
    assert posted(container, f"merchant_balance:{mid}", "USD") == 0
    assert posted(container, f"merchant_balance:{mid}", "EUR") == 0
    assert posted(container, f"payouts:{mid}", "EUR") == -12_472
    assert posted(container, "fx_conversion:platform", "USD") == -13_534
    assert posted(container, "fx_conversion:platform", "EUR") == 12_471
    assert posted(container, "fx_gains_losses:platform", "EUR") == 1
    balance = merchant.get("/v1/balance").json()
    paid_out = {b["currency"]: b["amount"] for b in balance["paid_out"]}
    assert paid_out == {"EUR": 12_472, "USD": 0}
    # Every read model equals a replay, which reads the recorded rate, not the table.
    cell = container.router.directory
    with psycopg.connect(cell.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM fx_rates")
    for name in sorted(PROJECTIONS):
        rebuild(name, cell.store, cell.read.datastore)
        assert verify(name, cell.store, cell.read.datastore) == [], name
    assert posted(container, "fx_gains_losses:platform", "EUR") == 1


def refused_conversion(client: TestClient, container: Container) -> tuple[Api, str, str]:
    """A 10,000 USD payment settled in EUR, its payout refused by the bank: the merchant,
    its id and the settlement's."""
    merchant, merchant_ref = euro_merchant(client)
    merchant.pay(10_000)
    drain(container)
    until = datetime.now(UTC)
    valid_from = (until - timedelta(days=1)).isoformat()
    container.router.directory.rates.load(RATES.format(valid_from=valid_from), source="t.csv")
    bank = container.bank
    assert isinstance(bank, SimulatedBank)
    mid = UUID(hex=merchant_ref.removeprefix("mer_"))
    bank.behaviour = BankBehaviour(refuse_merchants=frozenset({mid}))

    request = {"merchant": merchant_ref, "currency": "USD", "until": until.isoformat()}
    closed = admin(client).post("/v1/settlements", request)
    assert closed.status_code == 201, closed.text
    pay_out(container)
    bank.behaviour = BankBehaviour()
    return merchant, merchant_ref, closed.json()["id"]


def test_a_refused_converted_payout_reverses_the_conversion_and_releases_the_items(
    client: TestClient, container: Container
) -> None:
    _, merchant_ref, _ = refused_conversion(client, container)
    mid = UUID(hex=merchant_ref.removeprefix("mer_"))
    request = {"merchant": merchant_ref, "currency": "USD"}

    assert unbalanced_entries(container) == []
    assert posted(container, f"merchant_balance:{mid}", "USD") == -9_680  # owed again, in USD
    assert posted(container, f"merchant_balance:{mid}", "EUR") == 0
    assert posted(container, "fx_conversion:platform", "USD") == 0
    assert posted(container, "fx_conversion:platform", "EUR") == 0
    later = {**request, "until": datetime.now(UTC).isoformat()}
    again = admin(client).post("/v1/settlements", later)
    assert again.status_code == 201, again.text
    assert (again.json()["net"], again.json()["payout"]) == (9_680, 8_920)


def test_the_statement_names_the_settlement_of_a_conversion_and_its_reversal(
    client: TestClient, container: Container
) -> None:
    merchant, _, settlement = refused_conversion(client, container)
    today = datetime.now(UTC).date().isoformat()
    window = {"from": today, "to": today}

    body = merchant.get("/v1/reports/statement", **window).json()
    text = as_csv(merchant, "/v1/reports/statement", **window)

    shown = {
        (ln["type"], ln["payment"], ln["settlement"])
        for section in body["currencies"]
        for ln in section["lines"]
        if ln["type"].startswith("fx_")
    }
    assert shown == {
        ("fx_conversion", None, settlement),
        ("fx_conversion_reversed", None, settlement),
    }
    fx_rows = [row for row in csv_rows(text) if row["type"].startswith("fx_")]
    assert fx_rows
    assert {(row["payment"], row["settlement"]) for row in fx_rows} == {("", settlement)}


SUPERSEDED = (
    "{ viewer { settlements(first: 5, filter: {status: SUPERSEDED}) { edges { node {"
    " id status supersededBy waitingReason } } } } }"
)


def test_a_settlement_waiting_for_a_rate_is_superseded_by_the_next_cutoffs(
    client: TestClient, container: Container
) -> None:
    merchant, merchant_ref = euro_merchant(client)
    merchant.pay(10_000)
    drain(container)
    first_cutoff = datetime.now(UTC)
    first = {"merchant": merchant_ref, "currency": "USD", "until": first_cutoff.isoformat()}
    waiting = admin(client).post("/v1/settlements", first)
    assert waiting.status_code == 409, waiting.text
    old = waiting.json()["settlement"]
    merchant.pay(4_000)
    drain(container)
    # The rate comes from after the first cut-off: only the next one can convert.
    valid_from = (first_cutoff + timedelta(microseconds=1)).isoformat()
    container.router.directory.rates.load(RATES.format(valid_from=valid_from), source="t.csv")

    later = {**first, "until": datetime.now(UTC).isoformat()}
    closed = admin(client).post("/v1/settlements", later)
    assert closed.status_code == 201, closed.text
    new = closed.json()
    assert (new["status"], new["net"], len(new["items"])) == ("closed", 13_534, 2)
    drain(container)

    shown = merchant.get(f"/v1/settlements/{old}").json()
    assert (shown["status"], shown["superseded_by"], shown["waiting_reason"]) == (
        "superseded", new["id"], None,
    )  # fmt: skip
    listed = merchant.get("/v1/settlements", status="superseded").json()["data"]
    assert [(s["id"], s["superseded_by"], s["items_count"]) for s in listed] == [
        (old, new["id"], 0)
    ]
    assert merchant.get("/v1/settlements", status="awaiting_rate").json()["data"] == []
    [edge] = Gql(client, merchant.key)(SUPERSEDED)["viewer"]["settlements"]["edges"]
    assert edge["node"] == {
        "id": old, "status": "SUPERSEDED", "supersededBy": new["id"], "waitingReason": None,
    }  # fmt: skip
    again = admin(client).post("/v1/settlements", first)  # the first cut-off, asked again
    assert (again.status_code, again.json()["status"]) == (200, "superseded")
    cell = container.router.directory
    for name in sorted(PROJECTIONS):  # every read model, the settlements' among them
        rebuild(name, cell.store, cell.read.datastore)
        assert verify(name, cell.store, cell.read.datastore) == [], name
    assert merchant.get(f"/v1/settlements/{old}").json()["status"] == "superseded"
