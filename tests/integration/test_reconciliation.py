"""Reconciliation on Postgres: a simulated day (with a won and a lost dispute) against
the acquirer's and the bank's files, the breaks of a doctored file, re-imports, and
malformed files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from paysource.adapters import sim_files
from paysource.application import statements
from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.reconciliation import ImportResult
from paysource.application.statements import MalformedStatement
from paysource.bootstrap import Cell, Container
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.reconciliation import BreakKind, Source, StatementLine
from paysource.processes.payouts import PayoutProcessor, PayoutRetry
from paysource.readmodels.maintenance import verify
from tests.helpers import Api, admin, drain, new_key

META = Meta(ActorKind.FINANCE, "test")


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.directory


def merchant_id(merchant: Api) -> UUID:
    return UUID(hex=merchant.get("/v1/balance").json()["merchant"].removeprefix("mer_"))


# The acquirer's settlement file, column by column (docs/reconciliation.md).
GROSS, FEE, NET = 7, 8, 9


def a_day_of_activity(client: TestClient, container: Container, cell: Cell) -> Api:
    """Captures, a refund, a hold, a decline, a dispute won (4,000 of the 4,000 payment)
    and one lost (1,000 of the 2,500 one), and a settlement paid out."""
    merchant = admin(client).merchant()
    paid = [merchant.pay(amount).json()["id"] for amount in (10_000, 4_000, 2_500)]
    merchant.pay(3_000, capture_method="manual")  # a hold: nobody moves money for it
    merchant.pay(1_000, source="tok_decline")
    drain(container)
    refund = {"payment": paid[0], "amount": 1_500}
    assert merchant.post("/v1/refunds", refund, Idempotency_Key=new_key()).status_code == 202
    drain(container)
    dispute(client, paid[1], won=True)
    dispute(client, paid[2], won=False, amount=1_000)
    drain(container)
    cell.settlements.close(
        merchant_id=merchant_id(merchant),
        currency="USD",
        until=datetime.now(UTC) + timedelta(seconds=1),
        meta=META,
    )
    processor = PayoutProcessor(
        cell.store, container.bank, container.clock, retry=PayoutRetry(2, 0.01)
    )
    run_until_caught_up(Follower(cell.store, processor, wakeup=Wakeup()))
    drain(container)
    return merchant


def dispute(client: TestClient, payment: str, *, won: bool, amount: int | None = None) -> str:
    """An admin opens a dispute of `payment` and closes it, as the acquirer's stand-in."""
    staff = admin(client)
    body = {"payment": payment, "reason": "fraudulent"} | ({"amount": amount} if amount else {})
    opened = staff.post("/v1/disputes", body, Idempotency_Key=new_key())
    assert opened.status_code == 201, opened.text
    found: str = opened.json()["id"]
    outcome = {"outcome": "won" if won else "lost"}
    assert staff.post(f"/v1/disputes/{found}/close", outcome).status_code == 200
    return found


def today() -> datetime:
    return datetime.now(UTC)


def account(cell: Cell, name: str) -> tuple[int, int]:
    """(debits_posted, credits_posted) of an account."""
    with cell.read.datastore.cursor() as curs:
        row = curs.execute(
            "SELECT debits_posted, credits_posted FROM ledger_accounts WHERE account = %s",
            (name,),
        ).fetchone()
    return (row["debits_posted"], row["credits_posted"]) if row else (0, 0)


def import_file(cell: Cell, source: Source, text: str) -> ImportResult:
    return cell.reconciliation.import_file(source=source, text=text, meta=META)


def test_a_day_of_simulated_activity_reconciles_to_zero_breaks_and_clears_the_receivable(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    merchant = a_day_of_activity(client, container, cell)
    owner = merchant_id(merchant)
    day = today().date()

    acquirer = import_file(cell, Source.ACQUIRER, sim_files.acquirer_file(database_url, day))
    drain(container)  # as the worker: the bank's file is matched on the ledger's latest
    bank = import_file(cell, Source.BANK, sim_files.bank_statement(database_url, day))
    drain(container)

    # 3 captures, 1 refund, 2 chargebacks, 1 chargeback reversed (the won dispute).
    assert (acquirer.lines, acquirer.matched, acquirer.breaks) == (7, 7, ())
    assert (bank.lines, bank.matched, bank.breaks) == (1, 1, ())
    debited, credited = account(cell, f"acquirer_receivable:{owner}")
    # Captures, the refund, both disputes and the won one's return, each both ways.
    assert debited == credited == 16_500 + 1_500 + 5_000 + 4_000
    cash_in, cash_out = account(cell, "settlement_cash:platform")
    assert cash_in - cash_out == 16_500 - 1_500 - 5_000 + 4_000
    assert cell.read.reconciliation.breaks() == []


def test_an_altered_amount_a_missing_line_and_an_extra_line_are_exactly_three_breaks(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    a_day_of_activity(client, container, cell)
    header, *lines = sim_files.acquirer_file(database_url, today().date()).splitlines()
    altered = lines[0].split(",")
    altered[GROSS], altered[NET] = str(int(altered[GROSS]) + 1), str(int(altered[NET]) + 1)
    extra = lines[1].split(",")
    extra[1], extra[2], extra[3], extra[4] = "capture", f"pay_{uuid4().hex}", "", ""
    extra[NET] = extra[GROSS] = "777"
    doctored = [header, ",".join(altered), *lines[1:-1], ",".join(extra)]
    missing_line = lines[-1].split(",")
    assert missing_line[1] == "dispute_won"  # chargeback lines come last: one is missing

    result = import_file(cell, Source.ACQUIRER, "\n".join(doctored) + "\n")
    drain(container)

    found = sorted((b.kind, b.line) for b in result.breaks)
    assert found == sorted(
        [(BreakKind.AMOUNT_DIFFERS, 2), (BreakKind.EXTRA, len(doctored)), (BreakKind.MISSING, None)]
    )
    missing = next(b for b in result.breaks if b.kind is BreakKind.MISSING)
    assert (missing.reference, missing.item_kind) == ("", missing_line[1])
    assert len(cell.read.reconciliation.breaks()) == 3
    counts = {(r["source"], r["kind"]): r["count"] for r in cell.read.reconciliation.open_by_kind()}
    assert counts == {("acquirer", k): 1 for k in ("amount_differs", "extra", "missing")}

    # The rail's true file later clears the two items: their breaks are resolved.
    import_file(cell, Source.ACQUIRER, sim_files.acquirer_file(database_url, today().date()))
    drain(container)
    assert [b["kind"] for b in cell.read.reconciliation.breaks()] == ["extra"]


def test_a_second_line_for_an_item_stays_open_though_its_own_file_clears_the_item(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    a_day_of_activity(client, container, cell)
    header, *lines = sim_files.acquirer_file(database_url, today().date()).splitlines()
    again = lines[0].split(",")
    again[5] = "sim_settled_twice"  # the acquirer settled the same capture twice
    text = "\n".join([header, *lines, ",".join(again)]) + "\n"

    result = import_file(cell, Source.ACQUIRER, text)
    drain(container)

    assert [b.kind for b in result.breaks] == [BreakKind.EXTRA]
    shown = cell.read.reconciliation.breaks()
    assert [(b["kind"], b["reference"]) for b in shown] == [("extra", "sim_settled_twice")]
    assert verify("reconciliation", cell.store, cell.read.datastore) == []


def test_importing_the_same_file_again_changes_nothing(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    a_day_of_activity(client, container, cell)
    text = sim_files.acquirer_file(database_url, today().date())
    first = import_file(cell, Source.ACQUIRER, text)
    drain(container)
    head = cell.store.head()

    again = import_file(cell, Source.ACQUIRER, text)

    assert (again.replayed, first.replayed) == (True, False)
    assert (again.id, again.matched, again.breaks) == (first.id, first.matched, first.breaks)
    assert cell.store.head() == head


def test_a_malformed_file_is_refused_whole_with_its_line_and_reason(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    a_day_of_activity(client, container, cell)
    header, *lines = sim_files.acquirer_file(database_url, today().date()).splitlines()
    broken = lines[1].split(",")
    broken[GROSS] = "12.50"
    text = "\n".join([header, lines[0], ",".join(broken), *lines[2:]]) + "\n"
    head = cell.store.head()

    with pytest.raises(MalformedStatement) as refused:
        import_file(cell, Source.ACQUIRER, text)

    assert refused.value.line == 3
    assert refused.value.detail == "line 3: gross_minor must be an integer (minor units)"
    assert cell.store.head() == head


def test_chargeback_lines_that_differ_or_name_no_dispute_of_ours_are_breaks(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    merchant = a_day_of_activity(client, container, cell)
    header, *lines = sim_files.acquirer_file(database_url, today().date()).splitlines()
    chargebacks = [line.split(",") for line in lines if line.split(",")[1] == "dispute"]
    taken = next(fields for fields in chargebacks if fields[GROSS] == "1000")  # the lost one
    others = [line for line in lines if line.split(",") != taken]
    taken[GROSS], taken[NET] = "900", "-900"
    stranger = [*taken]
    stranger[1], stranger[4], stranger[NET] = "dispute_won", f"dp_{uuid4().hex}", "900"

    result = import_file(
        cell, Source.ACQUIRER, "\n".join([header, *others, ",".join(taken), ",".join(stranger)])
    )
    drain(container)

    found = sorted((b.kind, b.item_kind, b.expected_minor, b.actual_minor) for b in result.breaks)
    assert found == [
        (BreakKind.AMOUNT_DIFFERS, "dispute", 1_000, 900),
        (BreakKind.EXTRA, "dispute_won", None, 900),
    ]
    assert result.matched == len(lines) - 1
    shown = cell.read.reconciliation.breaks()
    differs = next(b for b in shown if b["kind"] == "amount_differs")
    assert differs["merchant_id"] == merchant_id(merchant)
    debited, credited = account(cell, f"acquirer_receivable:{merchant_id(merchant)}")
    assert credited - debited == 1_000  # the lost dispute's chargeback is not cleared


def test_a_malformed_chargeback_line_refuses_the_file_whole(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    a_day_of_activity(client, container, cell)
    header, *lines = sim_files.acquirer_file(database_url, today().date()).splitlines()
    number = next(n for n, line in enumerate(lines) if line.split(",")[1] == "dispute")
    broken = lines[number].split(",")
    broken[4] = broken[4].replace("dp_", "pay_")
    text = "\n".join([header, *lines[:number], ",".join(broken), *lines[number + 1 :]]) + "\n"
    head = cell.store.head()

    with pytest.raises(MalformedStatement) as refused:
        import_file(cell, Source.ACQUIRER, text)

    assert refused.value.detail == f"line {number + 2}: dispute must be a dp_… id"
    assert cell.store.head() == head


def test_a_fee_above_a_tiny_capture_clears_from_our_bank_and_the_ledger_goes_on(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    paid = merchant.pay(5)
    assert paid.status_code in (201, 202), paid.text
    drain(container)
    payment = UUID(hex=paid.json()["id"].removeprefix("pay_"))
    # A fixed 10-cent fee on a 5-cent capture: the acquirer's net is -5.
    line = StatementLine("capture", payment, "sim_tiny", "USD", 5, 10, today().date())
    text = statements.to_csv(Source.ACQUIRER, [statements.acquirer_row(line)])

    result = import_file(cell, Source.ACQUIRER, text)
    drain(container)  # the ledger posts the clearing: it does not stop on it
    merchant.pay(700)
    drain(container)

    assert (result.matched, result.breaks) == (1, ())
    assert account(cell, f"acquirer_receivable:{merchant_id(merchant)}") == (5 + 700, 5)
    assert account(cell, "settlement_cash:platform") == (0, 5)
    assert account(cell, "acquirer_fees:platform") == (10, 0)
    assert verify("ledger", cell.store, cell.read.datastore) == []
