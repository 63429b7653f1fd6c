"""Reconciliation through REST, /metrics and the CLI: finance imports the rails' files,
reads the breaks, sees them counted; merchants may do neither."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from paysource import logs
from paysource.adapters import sim_files
from paysource.application import statements
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.entrypoints.cli import cli
from paysource.readmodels.maintenance import verify
from paysource.readmodels.reconciliation import queries
from paysource.readmodels.reports import ReportTooLarge
from tests.e2e.test_cli import env_for, paysource
from tests.e2e.test_metrics_endpoint import labels, scrape
from tests.helpers import Api, admin, bearer, drain, new_key
from tests.integration.test_reconciliation import GROSS, NET, a_day_of_activity

CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_partitions": 1})  # as `drain` runs it


@pytest.fixture
def finance(client: TestClient) -> dict[str, str]:
    created = admin(client).post("/v1/api_keys", {"role": "finance"})
    assert created.status_code == 201, created.text
    return bearer(created.json()["api_key"])


def post_file(
    client: TestClient, headers: dict[str, str], source: str, text: str
) -> httpx.Response:
    return client.post(
        f"/v1/reconciliation/imports?source={source}", content=text, headers={**headers, **CSV}
    )


def doctored(text: str) -> str:
    """One amount altered, the last line dropped, a line for an unknown payment added."""
    header, *lines = text.splitlines()
    altered = lines[0].split(",")
    altered[GROSS], altered[NET] = str(int(altered[GROSS]) + 7), str(int(altered[NET]) + 7)
    stranger = [*altered]
    stranger[2], stranger[5] = "pay_" + "ab" * 16, "sim_unknown"
    return "\n".join([header, ",".join(altered), *lines[1:-1], ",".join(stranger)]) + "\n"


def test_finance_imports_the_rails_files_and_a_replay_changes_nothing(
    client: TestClient, container: Container, finance: dict[str, str], database_url: str
) -> None:
    a_day_of_activity(client, container, container.router.directory)
    day = datetime.now(UTC).date()
    text = sim_files.acquirer_file(database_url, day)

    first = post_file(client, finance, "acquirer", text)
    again = post_file(client, finance, "acquirer", text)
    drain(container)  # as the worker: the bank's file is matched on the ledger's latest
    bank = post_file(client, finance, "bank", sim_files.bank_statement(database_url, day))

    assert first.status_code == 201, first.text
    assert (first.json()["matched"], first.json()["breaks"]) == (7, [])  # 2 are chargebacks
    assert first.json()["id"].startswith("rci_")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert (bank.status_code, bank.json()["breaks"]) == (201, [])


def test_a_keyed_import_answers_its_first_answer_again_and_refuses_another_file(
    client: TestClient, container: Container, finance: dict[str, str], database_url: str
) -> None:
    a_day_of_activity(client, container, container.router.directory)
    day = datetime.now(UTC).date()
    text = sim_files.acquirer_file(database_url, day)
    keyed = {**finance, "Idempotency-Key": new_key()}
    store = container.router.directory.store

    first = post_file(client, keyed, "acquirer", text)
    head = store.head()
    again = post_file(client, keyed, "acquirer", text)
    replayed_head = store.head()
    other_file = post_file(client, keyed, "acquirer", doctored(text))
    other_date = client.post(
        f"/v1/reconciliation/imports?source=acquirer&date={day}",  # the file's own
        content=text,
        headers={**keyed, **CSV},
    )

    assert first.status_code == 201, first.text
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
    assert again.json() == first.json()
    assert replayed_head == head  # imported once: the replay wrote nothing
    for reused in (other_file, other_date):
        assert reused.status_code == 422, reused.text
        assert reused.json()["type"].endswith("/idempotency_key_reused")
    assert store.head() == head
    assert client.get("/v1/reconciliation/breaks", headers=finance).json()["data"] == []


def test_a_doctored_file_shows_three_breaks_in_the_list_and_the_metric(
    client: TestClient, container: Container, finance: dict[str, str], database_url: str
) -> None:
    cell = container.router.directory
    a_day_of_activity(client, container, cell)
    text = doctored(sim_files.acquirer_file(database_url, datetime.now(UTC).date()))

    imported = post_file(client, finance, "acquirer", text)
    drain(container)
    listed = client.get("/v1/reconciliation/breaks", headers=finance).json()["data"]
    metric = scrape(client)["paysource_reconciliation_breaks_open"]

    assert imported.status_code == 201, imported.text
    assert sorted(b["kind"] for b in listed) == ["amount_differs", "extra", "missing"]
    differs = next(b for b in listed if b["kind"] == "amount_differs")
    assert (differs["actual_amount"] - differs["expected_amount"], differs["line"]) == (7, 2)
    assert differs["item"]["id"].startswith(("pay_", "re_"))
    for kind in ("amount_differs", "extra", "missing"):
        assert metric[labels(cell=cell.name, source="acquirer", kind=kind)] == 1
    for name in ("reconciliation", "ledger"):
        assert verify(name, cell.store, cell.read.datastore) == []


def test_a_report_with_more_breaks_than_it_may_hold_is_refused_never_cut(
    client: TestClient,
    container: Container,
    finance: dict[str, str],
    database_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_day_of_activity(client, container, container.router.directory)
    text = doctored(sim_files.acquirer_file(database_url, datetime.now(UTC).date()))
    assert post_file(client, finance, "acquirer", text).status_code == 201
    drain(container)
    monkeypatch.setattr(queries, "MAX_REPORT_ROWS", 3)
    assert len(client.get("/v1/reconciliation/breaks", headers=finance).json()["data"]) == 3
    monkeypatch.setattr(queries, "MAX_REPORT_ROWS", 2)

    refused = client.get("/v1/reconciliation/breaks", headers=finance)
    by_cli = in_process_cli(settings, monkeypatch, "reconcile", "report", "--format", "csv")

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/report_too_large")
    assert isinstance(by_cli.exception, ReportTooLarge)
    assert by_cli.stdout == ""  # not one line of a cut report


def in_process_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """The CLI in this process, so a monkeypatched limit holds for it too."""
    for name, value in env_for(settings).items():
        if name.startswith("PAYSOURCE_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(logs, "configure_for", lambda _: None)  # pytest's logging stays
    return CliRunner().invoke(cli, list(args), standalone_mode=False)


def test_the_csv_report_defuses_a_reference_a_spreadsheet_would_run(
    settings: Settings,
    client: TestClient,
    container: Container,
    finance: dict[str, str],
    database_url: str,
) -> None:
    a_day_of_activity(client, container, container.router.directory)
    header, *lines = sim_files.acquirer_file(database_url, datetime.now(UTC).date()).splitlines()
    formula = '=HYPERLINK("http://attacker.example/","open me")'
    stranger = lines[0].split(",")
    stranger[2], stranger[5] = "pay_" + "cd" * 16, '"' + formula.replace('"', '""') + '"'
    text = "\n".join([header, *lines, ",".join(stranger)]) + "\n"
    assert post_file(client, finance, "acquirer", text).status_code == 201
    drain(container)

    report = paysource("reconcile", "report", "--format", "csv", env=env_for(settings))
    listed = client.get("/v1/reconciliation/breaks", headers=finance).json()["data"]

    assert report.returncode == 0, report.stderr
    (row,) = csv.DictReader(io.StringIO(report.stdout))
    assert row["reference"] == "'" + formula  # a spreadsheet shows it as text
    assert [b["reference"] for b in listed] == [formula]  # JSON is no spreadsheet


def test_a_malformed_file_is_a_problem_naming_its_line_and_nothing_is_written(
    client: TestClient, container: Container, finance: dict[str, str]
) -> None:
    header = "date,type,payment,refund,acquirer_reference,currency,gross_minor,fee_minor,net_minor"
    good = f"2026-12-04,capture,pay_{'0' * 32},,sim_1,USD,100,0,100"
    bad = f"2026-12-04,capture,pay_{'1' * 32},,sim_2,USD,100,3,100"
    head = container.router.directory.store.head()

    refused = post_file(client, finance, "acquirer", f"{header}\n{good}\n{bad}\n")
    not_csv = client.post("/v1/reconciliation/imports?source=bank", json={"a": 1}, headers=finance)

    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/malformed_statement")
    assert problem["detail"] == "line 3: net_minor must be gross - fee"
    assert container.router.directory.store.head() == head
    assert not_csv.status_code == 415


@pytest.mark.parametrize(
    ("cells", "column"),
    [
        (("4111111111111111", "USD"), "acquirer_reference"),
        (("sim_2", "4111111111111111"), "currency"),
    ],
)
def test_a_card_number_in_a_file_is_refused_naming_line_and_column_and_nothing_is_written(
    client: TestClient,
    container: Container,
    finance: dict[str, str],
    cells: tuple[str, str],
    column: str,
) -> None:
    header = ",".join(statements.ACQUIRER_COLUMNS)
    good = f"2026-12-04,capture,pay_{'0' * 32},,,sim_1,USD,100,0,100"
    bad = f"2026-12-04,capture,pay_{'1' * 32},,,{cells[0]},{cells[1]},100,0,100"
    head = container.router.directory.store.head()

    refused = post_file(client, finance, "acquirer", f"{header}\n{good}\n{bad}\n")

    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"].endswith("/card_number_refused")
    assert problem["detail"].startswith(f"line 3: {column} ")
    assert problem["errors"][0]["field"] == column
    assert "4111" not in refused.text
    assert container.router.directory.store.head() == head


def test_an_amount_with_two_minus_signs_is_a_malformed_statement_not_a_500(
    client: TestClient, container: Container, finance: dict[str, str]
) -> None:
    header = ",".join(statements.ACQUIRER_COLUMNS)
    line = f"2026-12-04,refund,,re_{'0' * 32},,sim_1,USD,5,0,--5"

    refused = post_file(client, finance, "acquirer", f"{header}\n{line}\n")

    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/malformed_statement")
    assert refused.json()["detail"] == "line 2: net_minor must be an integer (minor units)"


def test_an_empty_file_of_each_day_is_an_import_of_that_day(
    client: TestClient, finance: dict[str, str]
) -> None:
    # A day without payouts has a header only, the same bytes every day.
    header = ",".join(statements.BANK_COLUMNS) + "\n"
    answers = [
        client.post(
            f"/v1/reconciliation/imports?source=bank&date={day}",
            content=header,
            headers={**finance, **CSV},
        )
        for day in ("2026-11-02", "2026-11-03")
    ]
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[1].json()["id"] != answers[0].json()["id"]


@pytest.mark.parametrize("day", ["2026-11-02T00:00:00", "20261102", "1795478400"])
def test_a_day_is_written_one_way(client: TestClient, finance: dict[str, str], day: str) -> None:
    header = ",".join(statements.BANK_COLUMNS) + "\n"
    imported = client.post(
        f"/v1/reconciliation/imports?source=bank&date={day}",
        content=header,
        headers={**finance, **CSV},
    )
    listed = client.get("/v1/reconciliation/breaks", params={"date": day}, headers=finance)
    assert (imported.status_code, listed.status_code) == (422, 422), imported.text


def test_merchants_may_neither_import_nor_read_breaks(client: TestClient) -> None:
    merchant: Api = admin(client).merchant()
    own = bearer(merchant.key)
    assert post_file(client, own, "bank", "x").status_code == 403
    assert client.get("/v1/reconciliation/breaks", headers=own).status_code == 403


def test_the_cli_writes_the_simulated_file_imports_it_and_reports_no_break(
    settings: Settings, client: TestClient, container: Container, tmp_path: object
) -> None:
    a_day_of_activity(client, container, container.router.directory)
    env = env_for(settings)
    written = paysource("simulate", "acquirer-file", env=env)
    assert written.returncode == 0, written.stderr
    path = f"{tmp_path}/acquirer.csv"
    with open(path, "w") as file:
        file.write(written.stdout)

    imported = paysource("reconcile", "import", "acquirer", path, env=env)
    report = paysource("reconcile", "report", "--format", "csv", env=env)

    assert imported.returncode == 0, imported.stderr
    assert '"matched": 7' in imported.stdout
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines() == [
        "date,source,kind,item_type,item,merchant,currency,expected_amount,actual_amount,"
        "line,reference,detail,status,import"
    ]
