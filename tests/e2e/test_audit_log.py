"""The tamper-evident log end to end: the worker's process, the API's proofs, the CLI's
verify, and the standalone verifier that auditors run on their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from paysource import audit_verifier
from paysource.application.audit import Signer
from paysource.application.eventlog import Wakeup
from paysource.bootstrap import Cell, Container
from paysource.config import Settings
from paysource.processes.audit_log import AuditFollower, AuditLog, run_audit_until_caught_up
from paysource.processes.audit_verify import verify_log
from tests.e2e.test_cli import env_for, paysource
from tests.helpers import Api, admin, bearer, drain


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


def audit(container: Container, cell: Cell) -> None:
    """What the worker's `audit-log` job does, until caught up, signing at the end."""
    log = AuditLog(
        cell.audit_log, cell.audit.signer, container.clock, log_id=cell.name, head_every_s=0
    )
    follower = AuditFollower(cell.store, log, wakeup=Wakeup(), batch_size=7)
    run_audit_until_caught_up(follower)


def trade(client: TestClient, container: Container, payments: int = 5) -> Api:
    merchant = admin(client).merchant()
    for n in range(payments):
        assert merchant.pay(1000 + n).status_code in (201, 202)
    drain(container)
    return merchant


def auditor(client: TestClient) -> Api:
    minted = admin(client).post("/v1/api_keys", {"role": "auditor", "label": "audit"})
    assert minted.status_code == 201, minted.text
    return Api(client, minted.json()["api_key"])


def edit_event(database_url: str, position: int) -> None:
    """What a superuser (or an edited dump) could do: the trigger does not stop them."""
    as_superuser(
        database_url,
        (
            "UPDATE paysource_events SET state = state || '\\x20'::bytea"
            " WHERE notification_id = %s",
            (position,),
        ),
    )


Statement = tuple[str, tuple[Any, ...]]


def as_superuser(database_url: str, *statements: Statement) -> None:
    """Run `statements` with the event table's append-only trigger off, as a superuser can."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE paysource_events DISABLE TRIGGER ALL")
        for query, params in statements:
            conn.execute(query, params)
        conn.execute("ALTER TABLE paysource_events ENABLE TRIGGER ALL")


def test_an_untouched_log_verifies(
    client: TestClient, container: Container, cell: Cell, settings: Settings
) -> None:
    trade(client, container)
    audit(container, cell)

    result = paysource("audit", "verify", env=env_for(settings))

    assert result.returncode == 0, result.stderr
    assert "0 events not in the tree yet" in result.stdout
    assert "ok:" in result.stdout


def test_an_edited_event_is_named_and_verify_fails(
    client: TestClient, container: Container, cell: Cell, settings: Settings
) -> None:
    trade(client, container)
    audit(container, cell)
    victim = cell.audit_log.event(3)
    assert victim is not None
    assert settings.database_url
    edit_event(settings.database_url, 3)

    result = paysource("audit", "verify", env=env_for(settings))

    assert result.returncode == 1
    first = next(line for line in result.stderr.splitlines() if line.startswith("cell-0:"))
    assert "position 3 " in first, result.stderr
    assert str(victim.originator_id) in first


def test_leaves_deleted_under_a_signed_head_are_missing_not_unaudited(
    client: TestClient, container: Container, cell: Cell
) -> None:
    trade(client, container, payments=3)
    audit(container, cell)
    head = cell.audit.store.head(None)
    assert head is not None
    last_two = leaf_positions(cell)[-2:]
    for position in last_two:
        edit_event(cell.database_url, position)
    # Leaves carry no trigger: without them, the edited events looked "not audited yet".
    as_superuser(
        cell.database_url,
        ("DELETE FROM audit_leaves WHERE notification_id = ANY(%s)", (last_two,)),
    )

    found = verify_log(cell.audit_log, cell.audit.signer.public_key)

    assert found.unaudited == 0
    assert f"position {last_two[0]} " in found.problems[0], found.problems
    assert "leaf is missing" in found.problems[0]
    assert f"tree head of size {head.tree_size}: leaves" in " ".join(found.problems)


def test_a_deleted_last_event_and_leaf_fail_the_signed_head_that_covered_them(
    client: TestClient, container: Container, cell: Cell
) -> None:
    trade(client, container, payments=3)
    audit(container, cell)
    head = cell.audit.store.head(None)
    assert head is not None
    last = leaf_positions(cell)[-1]
    as_superuser(
        cell.database_url,
        ("DELETE FROM paysource_events WHERE notification_id = %s", (last,)),
        ("DELETE FROM audit_leaves WHERE notification_id = %s", (last,)),
    )

    found = verify_log(cell.audit_log, cell.audit.signer.public_key)

    assert found.problems == [
        f"tree head of size {head.tree_size}: leaves {head.tree_size - 1} to"
        f" {head.tree_size - 1} are missing (the tree has {head.tree_size - 1})"
    ]


def test_inclusion_and_consistency_proofs_from_the_api_check_with_the_standalone_verifier(
    client: TestClient, container: Container, cell: Cell, tmp_path: Path
) -> None:
    trade(client, container, payments=3)
    audit(container, cell)
    first = cell.audit.store.head(None)
    trade(client, container, payments=4)
    audit(container, cell)
    staff = auditor(client)
    key = staff.get("/v1/audit/public_key").json()["public_key"]
    assert first is not None

    heads = staff.get("/v1/audit/tree_heads", limit=1)
    second = heads.json()["data"][0]["tree_size"]
    assert heads.json()["has_more"] is True
    for position in leaf_positions(cell)[: second : max(1, second // 5)]:
        proof = staff.get("/v1/audit/proof/inclusion", event=position, tree_size=second)
        assert proof.status_code == 200, proof.text
        assert _verifier("inclusion", proof.json(), key, tmp_path) == 0
    consistency = staff.get("/v1/audit/proof/consistency", first=first.tree_size, second=second)
    assert consistency.status_code == 200, consistency.text
    assert _verifier("consistency", consistency.json(), key, tmp_path) == 0


def leaf_positions(cell: Cell) -> list[int]:
    with psycopg.connect(cell.database_url) as conn:
        rows = conn.execute("SELECT notification_id FROM audit_leaves ORDER BY leaf_index")
        return [int(row[0]) for row in rows]


def _verifier(kind: str, doc: dict[str, Any], key: str, tmp_path: Path) -> int:
    path = tmp_path / f"{kind}.json"
    path.write_text(json.dumps(doc))
    return audit_verifier.main([kind, str(path), "--public-key", key])


def test_a_tree_head_signed_by_another_key_is_refused(
    client: TestClient, container: Container, cell: Cell, settings: Settings, tmp_path: Path
) -> None:
    trade(client, container)
    audit(container, cell)
    head = cell.audit.store.head(None)
    assert head is not None
    forged = Signer(bytes(range(32))).sign(
        head.log_id, head.tree_size, head.timestamp_ms, head.root_hash
    )
    kept, other = tmp_path / "kept.json", tmp_path / "forged.json"
    kept.write_text(json.dumps(head.to_json()))
    other.write_text(json.dumps(forged.to_json()))
    ours = cell.audit.signer.public_key

    assert audit_verifier.verify_head(head, ours)
    assert not audit_verifier.verify_head(forged, ours)
    good = paysource("audit", "verify", "--tree-head", str(kept), env=env_for(settings))
    bad = paysource("audit", "verify", "--tree-head", str(other), env=env_for(settings))
    assert good.returncode == 0, good.stderr
    assert bad.returncode == 1
    assert "not signed by this log's key" in bad.stderr


def test_export_head_to_a_place_it_cannot_write_is_one_line(
    client: TestClient, container: Container, cell: Cell, settings: Settings, tmp_path: Path
) -> None:
    trade(client, container)
    audit(container, cell)
    nowhere = tmp_path / "no_such_directory" / "head.json"

    result = paysource("audit", "export-head", str(nowhere), env=env_for(settings))

    assert result.returncode == 1
    assert f"cannot write {nowhere}: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("event=abc", 422, "validation_error"),
        ("event=0", 422, "validation_error"),
        ("event=99999999999999999999999", 422, "validation_error"),
        ("event=1&tree_size=2", 422, "invalid_value"),
        ("event=424242", 404, "not_found"),
    ],
)
def test_bad_proof_parameters_are_problems_never_500(
    client: TestClient, container: Container, cell: Cell, query: str, status: int, code: str
) -> None:
    trade(client, container, payments=1)
    audit(container, cell)
    staff = auditor(client)

    response = client.get(
        f"/v1/audit/proof/inclusion?{query}", headers={"Authorization": f"Bearer {staff.key}"}
    )

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + code)


def test_merchants_may_not_read_the_audit_log(client: TestClient, container: Container) -> None:
    merchant = trade(client, container, payments=1)

    response = merchant.get("/v1/audit/tree_heads")

    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")


def test_heads_are_signed_on_schedule_even_when_the_log_goes_quiet(
    client: TestClient, container: Container, cell: Cell
) -> None:
    from datetime import timedelta  # noqa: PLC0415

    from paysource.adapters.clock import ManualClock  # noqa: PLC0415

    clock = ManualClock()
    log = AuditLog(cell.audit_log, cell.audit.signer, clock, log_id=cell.name, head_every_s=60)
    follower = AuditFollower(cell.store, log, wakeup=Wakeup(), batch_size=1000)
    trade(client, container, payments=1)
    run_audit_until_caught_up(follower)
    first = cell.audit.store.head(None)
    trade(client, container, payments=1)
    run_audit_until_caught_up(follower)

    assert cell.audit.store.head(None) == first  # appended, but too soon to sign again
    clock.advance(timedelta(seconds=61))
    follower.step(cell.store.head())  # nothing new to append: signs, as the worker would
    latest = cell.audit.store.head(None)
    assert first is not None
    assert latest is not None
    assert latest.tree_size == cell.audit_log.size() > first.tree_size


def test_the_worker_leases_the_audit_job(container: Container) -> None:
    from paysource.entrypoints.worker import Worker  # noqa: PLC0415

    worker = Worker(container)
    try:
        assert "cell-0/audit-log" in [job.name for job in worker.jobs()]
    finally:
        worker.close()


def test_erasing_a_customer_changes_no_leaf_and_every_signed_head_still_verifies(
    client: TestClient, container: Container, cell: Cell, settings: Settings
) -> None:
    merchant = trade(client, container)
    made = merchant.post("/v1/customers", {"name": "Ada Lovelace", "email": "ada@example.com"})
    assert made.status_code == 201, made.text
    assert merchant.pay(4200, customer=made.json()["id"]).status_code in (201, 202)
    drain(container)
    audit(container, cell)
    head_before = cell.audit_log.head(None)
    assert head_before is not None

    erased = client.delete(f"/v1/customers/{made.json()['id']}", headers=bearer(merchant.key))
    assert erased.status_code == 200, erased.text
    drain(container)
    audit(container, cell)
    result = paysource("audit", "verify", env=env_for(settings))

    # verify recomputes every leaf from the stored rows: erasure destroyed a key, not a row
    assert result.returncode == 0, result.stderr
    assert cell.audit_log.head(head_before.tree_size) == head_before
    latest = cell.audit_log.head(None)
    assert latest is not None
    assert latest.tree_size > head_before.tree_size  # the erasure is itself an event
