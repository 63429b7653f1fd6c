"""A capture the acquirer refused is never paid out: held out of settlements until an
operator retries it (settled once the acquirer captures) or reverses it in the books
(corrected by a debit in the next settlement if it was already paid out)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from paysource.application.ids import Kind, decode
from paysource.application.relay_resolution import Resolution
from paysource.bootstrap import Cell, Container
from paysource.config import Settings
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.payment import Payment, RelayAction
from paysource.domain.settlement import SettlementStatus
from paysource.readmodels.maintenance import verify
from tests.e2e.test_cli import env_for, paysource
from tests.graphql.helpers import Gql
from tests.helpers import Api, admin, drain, new_key
from tests.integration.test_settlements import balances, bank, close, fee, merchant_id, pay_out
from tests.integration.test_webhook_delivery import open_world


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


def paid(merchant: Api, container: Container, amount: int, source: str = "tok_visa") -> str:
    payment: str = merchant.pay(amount, source=source).json()["id"]
    drain(container)
    return payment


def resolve(api: Api, payment: str, action: str, *, key: str | None = None) -> Any:
    body = {"action": action, "reason": f"ops ticket 42: {action}"}
    return api.post(f"/v1/payments/{payment}/resolve_relay", body, Idempotency_Key=key or new_key())


def unbalanced_entries(cell: Cell) -> list[Any]:
    with cell.read.datastore.transaction(commit=False) as curs:
        return curs.execute(
            "SELECT entry_id FROM postings GROUP BY entry_id, currency, phase"
            " HAVING sum(CASE side WHEN 'D' THEN amount_minor ELSE -amount_minor END) <> 0"
        ).fetchall()


def statement_lines(merchant: Api, payment: str) -> list[tuple[str, int]]:
    today = datetime.now(UTC).date().isoformat()
    body = merchant.get("/v1/reports/statement", **{"from": today, "to": today}).json()
    assert body["reconciles"] is True, body
    lines = body["currencies"][0]["lines"]
    return [(line["type"], line["amount"]) for line in lines if line["payment"] == payment]


def settled_payments(cell: Cell, settlement_id: UUID) -> list[tuple[str, UUID | None]]:
    found = cell.settlements.get(merchant_id=None, settlement=settlement_id)
    return [(str(item.kind), item.payment_id) for item in found.items]


def test_a_refused_capture_is_held_out_of_settlements_and_reversed_with_a_reason(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    refused = paid(merchant, container, 5_000, "tok_capture_refused")
    fine = paid(merchant, container, 10_000)
    owner = merchant_id(merchant)

    settlement = close(cell, owner)
    pay_out(container, cell)

    assert settled_payments(cell, settlement.id) == [("capture", decode(Kind.PAYMENT, fine))]
    assert settlement.net_minor == 10_000 - fee(10_000)
    held = merchant.get(f"/v1/payments/{refused}").json()
    assert (held["settlement_hold"], held["relay_failures"]) == ("capture_refused", ["capture"])
    # A refund of money the acquirer never took is refused too.
    refund = merchant.post("/v1/refunds", {"payment": refused}, Idempotency_Key=new_key())
    assert refund.status_code == 409, refund.text
    assert refund.json()["type"].endswith("/payment_capture_refused")

    reversed_ = resolve(admin(client), refused, "reverse")
    drain(container)

    assert reversed_.status_code == 200, reversed_.text
    shown = merchant.get(f"/v1/payments/{refused}").json()
    assert shown["settlement_hold"] is None
    assert shown["relay_resolution"] == {
        "action": "reverse",
        "outcome": "reversed",
        "reason": "ops ticket 42: reverse",
        "failure": "",
    }
    listed = {p["id"]: p for p in merchant.get("/v1/payments").json()["data"]}[refused]
    assert (listed["settlement_hold"], listed["relay_resolution"]) == (
        None,
        shown["relay_resolution"],
    )
    events = merchant.get(f"/v1/payments/{refused}/events").json()["data"]
    assert events[-1]["type"] == "Payment.CaptureReversed"
    assert events[-1]["metadata"]["actor"] == "admin"
    assert unbalanced_entries(cell) == []
    # The merchant was paid the good capture only, and is owed nothing more.
    assert balances(merchant) == {
        "available": 0,
        "pending": 0,
        "paid_out": 10_000 - fee(10_000),
    }
    assert statement_lines(merchant, refused) == [
        ("capture", 5_000),
        ("fee", -fee(5_000)),
        ("capture_reversal", -5_000),
        ("fee_refund", fee(5_000)),
    ]
    paid(merchant, container, 2_000)
    later = close(cell, owner)
    assert [kind for kind, _ in settled_payments(cell, later.id)] == ["capture"]
    assert later.net_minor == 2_000 - fee(2_000)


def test_a_retry_the_acquirer_accepts_lifts_the_hold_and_the_next_settlement_pays_it(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    refused = paid(merchant, container, 5_000, "tok_capture_refused_once")
    paid(merchant, container, 1_000)
    owner = merchant_id(merchant)
    first = close(cell, owner)
    pay_out(container, cell)
    assert decode(Kind.PAYMENT, refused) not in [p for _, p in settled_payments(cell, first.id)]

    retried = resolve(admin(client), refused, "retry")
    drain(container)

    assert retried.status_code == 200, retried.text
    assert retried.json()["settlement_hold"] is None
    assert retried.json()["relay_resolution"]["outcome"] == "captured"
    payment_id = decode(Kind.PAYMENT, refused)
    captures = [op for op in container.acquirer.operations(payment_id) if op.kind == "capture"]  # type: ignore[attr-defined]
    assert [op.amount_minor for op in captures] == [5_000]
    second = close(cell, owner)
    pay_out(container, cell)
    assert settled_payments(cell, second.id) == [("capture", payment_id)]
    assert second.net_minor == 5_000 - fee(5_000)
    assert cell.settlements.get(merchant_id=None, settlement=second.id).status is (
        SettlementStatus.PAID
    )


def test_a_retry_refused_again_keeps_the_hold_and_records_the_refusal(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    refused = paid(merchant, container, 5_000, "tok_capture_refused")

    retried = resolve(admin(client), refused, "retry")

    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["settlement_hold"] == "capture_refused"
    assert body["relay_resolution"]["outcome"] == "refused"
    assert "lapsed" in body["relay_resolution"]["failure"]
    drain(container)
    with pytest.raises(Exception, match="no captures or refunds"):
        close(cell, merchant_id(merchant))


def test_daily_volume_shows_a_reversal_and_nets_to_what_the_statement_moved(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    refused = paid(merchant, container, 5_000, "tok_capture_refused")
    assert resolve(admin(client), refused, "reverse").status_code == 200
    drain(container)

    today = datetime.now(UTC).date().isoformat()
    window = {"from": today, "to": today}
    (day,) = merchant.get("/v1/reports/daily-volume", **window).json()["data"]
    (usd,) = merchant.get("/v1/reports/statement", **window).json()["currencies"]
    # The capture and its fee stay where they happened; the reversal takes both back.
    assert (day["captures_amount"], day["fees"]) == (5_000, fee(5_000))
    assert (day["reversals_count"], day["reversals_amount"], day["reversed_fees"]) == (
        1,
        5_000,
        fee(5_000),
    )
    assert day["net"] == usd["movements"] == 0
    assert verify("finance", cell.store, cell.read.datastore) == []


def test_a_reversal_of_a_capture_already_paid_out_is_a_correction_in_the_next_settlement(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    late = paid(merchant, container, 8_000)
    owner = merchant_id(merchant)
    first = close(cell, owner)
    pay_out(container, cell)
    # The acquirer's refusal is learned only now (or was recorded before holds existed).
    learn_refusal_late(cell, decode(Kind.PAYMENT, late))

    assert resolve(admin(client), late, "reverse").status_code == 200
    drain(container)
    paid(merchant, container, 20_000)
    second = close(cell, owner)
    pay_out(container, cell)

    correction = -(8_000 - fee(8_000))
    assert sorted(kind for kind, _ in settled_payments(cell, second.id)) == [
        "capture",
        "correction",
    ]
    assert (second.carried_in_minor, second.net_minor) == (
        correction,
        20_000 - fee(20_000) + correction,
    )
    total_paid = first.net_minor + second.net_minor
    assert total_paid == 20_000 - fee(20_000)  # only what the acquirer moved
    assert balances(merchant) == {"available": 0, "pending": 0, "paid_out": total_paid}
    assert [p["amount_minor"] for p in bank(container).payouts(key_prefix=str(second.id))] == [
        second.net_minor
    ]
    assert unbalanced_entries(cell) == []
    shown = admin(client).get(f"/v1/settlements/stl_{second.id.hex}").json()
    assert {item["kind"]: item["payment"] for item in shown["items"]}["correction"] == late
    query = (
        "query($id: ID!) { settlement(id: $id) { ... on Settlement {"
        " carriedIn { amountMinor } items { kind net { amountMinor } payment { id } } } } }"
    )
    seen = Gql(client, merchant.key)(query, id=f"stl_{second.id.hex}")["settlement"]
    assert seen["carriedIn"] == {"amountMinor": str(correction)}
    assert {
        "kind": "CORRECTION",
        "net": {"amountMinor": str(correction)},
        "payment": {"id": late},
    } in seen["items"]
    # Every read model equals a replay of the log, the new events included.
    for name in ("settlements", "payments", "ledger", "transactions", "finance"):
        assert verify(name, cell.store, cell.read.datastore) == [], name


def learn_refusal_late(cell: Cell, payment_id: UUID) -> None:
    payment = cell.store.get(payment_id, Payment)
    assert payment is not None
    meta = Meta(ActorKind.SYSTEM, "processor")
    payment.record_relay_failure(operation="capture", reason="learned late", meta=meta)
    cell.store.save(payment)


def test_resolve_relay_is_admin_only_idempotent_and_checks_its_input(
    client: TestClient, container: Container
) -> None:
    merchant = admin(client).merchant()
    refused = paid(merchant, container, 5_000, "tok_capture_refused")
    fine = paid(merchant, container, 1_000)
    operator = admin(client)

    forbidden = resolve(merchant, refused, "reverse")
    assert forbidden.status_code == 403, forbidden.text
    assert forbidden.headers["content-type"].startswith("application/problem+json")
    key = new_key()
    first = resolve(operator, refused, "reverse", key=key)
    again = resolve(operator, refused, "reverse", key=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other_body = resolve(operator, refused, "retry", key=key)
    assert other_body.status_code == 422, other_body.text
    assert other_body.json()["type"].endswith("/idempotency_key_reused")
    twice = resolve(operator, refused, "reverse")
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("/relay_not_held")
    nothing_failed = resolve(operator, fine, "retry")
    assert nothing_failed.status_code == 409
    assert nothing_failed.json()["type"].endswith("/relay_not_held")
    path = f"/v1/payments/{refused}/resolve_relay"
    for body in ({"action": "undo", "reason": "x"}, {"action": "retry", "reason": ""}, {}):
        bad = operator.post(path, body, Idempotency_Key=new_key())
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
    no_key = operator.post(path, {"action": "retry", "reason": "x"})
    assert no_key.status_code == 400
    unknown = resolve(operator, "pay_" + "0" * 32, "retry")
    assert unknown.status_code == 404


def test_the_cli_resolves_a_refused_capture_with_a_reason_and_the_operator(
    client: TestClient, container: Container, settings: Settings
) -> None:
    merchant = admin(client).merchant()
    refused = paid(merchant, container, 5_000, "tok_capture_refused")
    env = env_for(settings)

    neither = paysource("payments", "resolve-relay", refused, "--reason", "x", env=env)
    done = paysource(
        "payments",
        "resolve-relay",
        refused,
        "--reverse",
        "--reason",
        "lapsed hold",
        "--operator",
        "dana",
        env=env,
    )
    again = paysource("payments", "resolve-relay", refused, "--retry", "--reason", "x", env=env)

    assert neither.returncode == 2, neither.stderr
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["id"], shown["relay_resolution"]["outcome"]) == (refused, "reversed")
    assert shown["relay_resolution"]["reason"] == "lapsed hold"
    assert again.returncode == 1
    assert "no unresolved relay failure" in again.stderr
    events = merchant.get(f"/v1/payments/{refused}/events").json()["data"]
    assert events[-1]["metadata"]["actor_id"] == "cli:dana"


def test_a_resolution_is_sent_as_payment_relay_resolved_with_the_payment_as_it_left_it(
    container: Container,
) -> None:
    with open_world(container) as world:
        world.register("http://127.0.0.1:9/ops", ["payment.relay_resolved"])
        refused = world.pay(amount=3_000, token="tok_capture_refused_once")
        world.process()
        resolution = Resolution(refused, RelayAction.RETRY, "OPS-9")
        container.relay_resolution(refused).resolve(
            resolution, idempotency_key=None, request_hash="h", meta=Meta(ActorKind.ADMIN, "ops")
        )
        world.process()

        sent = [(d["event_type"], d["object_id"]) for d in world.deliveries()]
        assert sent == [("payment.relay_resolved", refused)]
        with world.webhooks.for_cell(world.cell).queue.datastore.cursor() as curs:
            row = curs.execute("SELECT payload FROM webhook_events").fetchone()
        payment = json.loads(row["payload"])["data"]["object"]
        assert (payment["settlement_hold"], payment["relay_resolution"]["outcome"]) == (
            None,
            "captured",
        )


def test_a_capture_is_not_disputed_before_the_acquirer_confirms_it_so_a_refusal_charges_nothing(
    client: TestClient, container: Container
) -> None:
    merchant = admin(client).merchant()
    payment = merchant.pay(4_000, source="tok_capture_refused", capture_method="manual")
    payment_id = payment.json()["id"]
    drain(container)
    assert merchant.post(f"/v1/payments/{payment_id}/capture", {}, Idempotency_Key=new_key())
    # The acquirer has not answered the capture yet: there is no money to charge back.
    opened = admin(client).post(
        "/v1/disputes", {"payment": payment_id, "reason": "fraudulent"}, Idempotency_Key=new_key()
    )
    assert opened.status_code == 409, opened.text
    assert opened.json()["type"].endswith("/payment_capture_unconfirmed")
    drain(container)  # then it refuses it
    assert merchant.get(f"/v1/payments/{payment_id}").json()["settlement_hold"] == (
        "capture_refused"
    )

    answer = resolve(admin(client), payment_id, "reverse")
    drain(container)

    assert answer.status_code == 200, answer.text
    assert merchant.get("/v1/disputes", payment=payment_id).json()["data"] == []
    # Nothing was taken from the merchant, nor is anything owed to it.
    assert balances(merchant) == {"available": 0, "pending": 0, "paid_out": 0}


def test_an_operator_key_answers_per_merchant_whether_redis_or_postgres_answers(
    client: TestClient, container: Container
) -> None:
    # The claim lives in the payment's merchant's cell (no write spans two merchants), so
    # a key is the operator's per merchant; Redis must not say otherwise while it holds it.
    operator = admin(client)
    first, second = (admin(client).merchant() for _ in range(2))
    refused = [paid(m, container, 2_000, "tok_capture_refused") for m in (first, first, second)]
    key = new_key()

    answered = resolve(operator, refused[0], "reverse", key=key)
    same_merchant = resolve(operator, refused[1], "reverse", key=key)
    other_merchant = resolve(operator, refused[2], "reverse", key=key)

    assert answered.status_code == 200, answered.text
    assert same_merchant.status_code == 422, same_merchant.text
    assert other_merchant.status_code == 200, other_merchant.text
