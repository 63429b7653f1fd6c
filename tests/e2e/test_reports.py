"""Finance reports: right numbers, JSON and CSV agree, each merchant sees only its own."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.helpers import Api, admin, drain, new_key

TODAY = datetime.now(UTC).date()
RANGE = {"from": (TODAY - timedelta(days=30)).isoformat(), "to": TODAY.isoformat()}


@pytest.fixture
def merchant(client: TestClient, container: Container) -> Api:
    merchant = admin(client).merchant("Acme")
    paid = [merchant.pay(amount).json()["id"] for amount in (10_000, 2_500)]
    merchant.pay(4_000, capture_method="manual")
    merchant.pay(300, currency="EUR")
    drain(container)
    merchant.post("/v1/refunds", {"payment": paid[0], "amount": 1_000}, Idempotency_Key=new_key())
    drain(container)
    return merchant


def fee(amount: int) -> int:
    # 2.9 % rounded half-even to the cent, plus 0.30.
    return round(Fraction(amount * 290, 10000)) + 30


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def as_csv(api: Api, path: str, **params: str) -> str:
    response = api.client.get(
        path, params=params, headers={"Authorization": f"Bearer {api.key}", "Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return response.text


def test_daily_volume_counts_captures_refunds_fees_and_net(merchant: Api) -> None:
    rows = merchant.get("/v1/reports/daily-volume", **RANGE).json()["data"]

    usd = next(r for r in rows if r["currency"] == "USD")
    assert (usd["captures_count"], usd["captures_amount"]) == (2, 12_500)
    assert (usd["refunds_count"], usd["refunds_amount"]) == (1, 1_000)
    assert usd["fees"] == fee(10_000) + fee(2_500)
    assert usd["net"] == 12_500 - 1_000 - usd["fees"]
    assert {r["currency"] for r in rows} == {"USD", "EUR"}


def test_daily_volume_as_csv_says_exactly_what_the_json_says(merchant: Api) -> None:
    json_rows = merchant.get("/v1/reports/daily-volume", **RANGE).json()["data"]
    csv_text = as_csv(merchant, "/v1/reports/daily-volume", **RANGE)

    assert csv_rows(csv_text) == [{k: str(v) for k, v in row.items()} for row in json_rows]


def test_the_statement_reconciles_and_matches_the_balance(merchant: Api) -> None:
    statement = merchant.get("/v1/reports/statement", **RANGE).json()

    assert statement["reconciles"] is True
    usd = next(c for c in statement["currencies"] if c["currency"] == "USD")
    assert usd["opening_balance"] == 0
    assert (
        usd["opening_balance"] + sum(line["amount"] for line in usd["lines"])
        == (usd["closing_balance"])
    )
    assert [line["type"] for line in usd["lines"]] == [
        "capture",
        "fee",
        "capture",
        "fee",
        "refund",
    ]
    available = merchant.get("/v1/balance").json()["available"]
    assert {"amount": usd["closing_balance"], "currency": "USD"} in available


def test_the_statement_as_csv_says_exactly_what_the_json_says(merchant: Api) -> None:
    statement = merchant.get("/v1/reports/statement", **RANGE).json()
    rows = csv_rows(as_csv(merchant, "/v1/reports/statement", **RANGE))

    for section in statement["currencies"]:
        mine = [r for r in rows if r["currency"] == section["currency"]]
        assert mine[0]["type"] == "opening_balance"
        assert int(mine[0]["balance_after"]) == section["opening_balance"]
        assert mine[-1]["type"] == "closing_balance"
        assert int(mine[-1]["balance_after"]) == section["closing_balance"]
        assert [(r["type"], int(r["amount"]), r["payment"]) for r in mine[1:-1]] == [
            (line["type"], line["amount"], line["payment"]) for line in section["lines"]
        ]


def test_a_statement_window_opens_with_the_balance_before_it(merchant: Api) -> None:
    later = merchant.get("/v1/reports/statement", **{"from": "2099-01-01", "to": "2099-01-02"})

    usd = next(c for c in later.json()["currencies"] if c["currency"] == "USD")
    assert usd["lines"] == []
    assert usd["opening_balance"] == usd["closing_balance"] > 0


def test_a_merchant_cannot_read_another_merchants_reports(
    client: TestClient, merchant: Api
) -> None:
    other = admin(client).merchant("Other")
    acme_id = merchant.get("/v1/balance").json()["merchant"]

    # /v1/balance takes no date range: sent one, it answers 400 unknown_parameter.
    for path, dates in (
        ("/v1/reports/statement", RANGE),
        ("/v1/reports/daily-volume", RANGE),
        ("/v1/balance", {}),
    ):
        response = other.get(path, merchant=acme_id, **dates)
        assert response.status_code == 404, path
        assert response.json()["type"].endswith("/not_found")
    own = other.get("/v1/reports/daily-volume", **RANGE).json()["data"]
    assert own == []


@pytest.mark.parametrize("role", ["finance", "auditor"])
def test_finance_and_auditors_read_every_merchants_reports(
    client: TestClient, merchant: Api, role: str
) -> None:
    key = admin(client).post("/v1/api_keys", {"role": role}).json()["api_key"]
    staff = Api(client, key)
    acme_id = merchant.get("/v1/balance").json()["merchant"]

    everyone = staff.get("/v1/reports/daily-volume", **RANGE).json()["data"]
    statement = staff.get("/v1/reports/statement", merchant=acme_id, **RANGE)

    assert {row["merchant"] for row in everyone} == {acme_id}
    assert statement.status_code == 200
    assert statement.json() == merchant.get("/v1/reports/statement", **RANGE).json()
    missing = staff.get("/v1/reports/statement", **RANGE)
    assert missing.status_code == 422


@pytest.mark.parametrize(
    "params",
    [{"from": "2026-02-01", "to": "2026-01-01"}, {"from": "2020-01-01", "to": "2026-01-01"}],
    ids=["reversed", "longer-than-a-year"],
)
def test_report_ranges_are_checked(merchant: Api, params: dict[str, str]) -> None:
    response = merchant.get("/v1/reports/daily-volume", **params)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/validation_error")


def test_an_unknown_currency_is_refused_not_answered_empty(merchant: Api) -> None:
    # An empty report for ZZZ read as "no volume".
    response = merchant.get("/v1/reports/daily-volume", currency="ZZZ", **RANGE)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "query.currency"
    assert merchant.get("/v1/reports/daily-volume", currency="usd", **RANGE).status_code == 200


@pytest.mark.parametrize(
    "day",
    ["2026-11-24T00:00:00+14:00", "1795478400", "1795478400.0", "20261124", "2026-11-24 "],
)
def test_report_days_are_written_one_way(merchant: Api, day: str) -> None:
    for params in ({"from": day, "to": TODAY.isoformat()}, {"from": "2026-01-01", "to": day}):
        response = merchant.get("/v1/reports/daily-volume", **params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["errors"][0]["field"] in ("query.from", "query.to")


def test_a_daily_volume_too_large_to_answer_says_so_instead_of_cutting_it(
    client: TestClient, merchant: Api, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paysource.readmodels import reports  # noqa: PLC0415

    other = admin(client).merchant("Other")
    other.pay(700)
    drain(container)
    staff = admin(client)
    assert len(staff.get("/v1/reports/daily-volume", **RANGE).json()["data"]) == 3
    monkeypatch.setattr(reports, "MAX_REPORT_ROWS", 2)

    response = staff.get("/v1/reports/daily-volume", **RANGE)

    assert response.status_code == 422
    assert response.json()["type"].endswith("/report_too_large")
    narrowed = staff.get("/v1/reports/daily-volume", currency="EUR", **RANGE)
    assert len(narrowed.json()["data"]) == 1


def test_a_statement_too_large_to_answer_says_so_instead_of_failing(
    merchant: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paysource.readmodels import reports  # noqa: PLC0415

    assert len(merchant.get("/v1/reports/statement", **RANGE).json()["currencies"]) == 2
    monkeypatch.setattr(reports, "MAX_STATEMENT_LINES", 2)

    response = merchant.get("/v1/reports/statement", **RANGE)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/report_too_large")


@pytest.mark.parametrize(
    ("accept", "csv_expected"),
    [
        ("text/csv", True),
        ("TEXT/CSV", True),
        ("text/*", True),
        ("text/csv;q=0, application/json", False),
        ("application/json, text/csv;q=0.1", False),
        ("text/csv;q=0.9, application/json;q=0.5", True),
        ("*/*", False),
        ("", False),
        ("text/csv;q=bogus", False),
    ],
)
def test_csv_is_served_when_the_client_prefers_it(
    merchant: Api, accept: str, csv_expected: bool
) -> None:
    response = merchant.client.get(
        "/v1/reports/daily-volume",
        params=RANGE,
        headers={"Authorization": f"Bearer {merchant.key}", "Accept": accept},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv") is csv_expected
