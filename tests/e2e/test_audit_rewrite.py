"""A rewrite of history by someone who can write the database but has not the signing
key: edit an event, recompute its leaf and every node above it (the algorithm is
public), delete the signed heads the edit breaks. The worker must refuse to sign over
it, and an auditor who kept an earlier head must see that the log no longer extends it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from paysource import audit_verifier
from paysource.adapters.clock import ManualClock
from paysource.application.eventlog import Wakeup
from paysource.audit_verifier import TreeHead
from paysource.bootstrap import Cell, Container
from paysource.processes.audit_log import (
    AuditFollower,
    AuditLog,
    Frontier,
    HistoryRewritten,
    run_audit_until_caught_up,
)
from tests.e2e.test_audit_log import (
    Statement,
    as_superuser,
    audit,
    auditor,
    edit_event,
    leaf_positions,
    trade,
)


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


def signed(cell: Cell) -> TreeHead:
    head = cell.audit.store.head(None)
    assert head is not None
    return head


def rewrite_history(
    cell: Cell,
    victim: int,
    *,
    heads_above: int | None = None,
    lower_mark_to: TreeHead | None = None,
) -> int:
    """Edit the event of leaf `victim`, recompute the tree, delete the heads above it
    (above `heads_above` if given); with `lower_mark_to`, also set the job's record of
    its last head back to that one. Returns the edited event's position."""
    positions = leaf_positions(cell)
    edit_event(cell.database_url, positions[victim])
    frontier, statements = Frontier(0, []), list[Statement]()
    for position in positions:
        event = cell.audit_log.event(position)
        assert event is not None
        digest = event.leaf_hash()
        statements.append(
            (
                "UPDATE audit_leaves SET leaf_hash = %s WHERE leaf_index = %s",
                (digest, frontier.size),
            )
        )
        statements += [
            ("UPDATE audit_nodes SET hash = %s WHERE level = %s AND idx = %s", (h, *key))
            for key, h in frontier.push(digest)
        ]
    above = victim if heads_above is None else heads_above
    statements.append(("DELETE FROM audit_tree_heads WHERE tree_size > %s", (above,)))
    if lower_mark_to is not None:
        statements.append(_lower_mark(lower_mark_to))
    as_superuser(cell.database_url, *statements)
    return positions[victim]


def _lower_mark(head: TreeHead) -> Statement:
    return (
        "UPDATE audit_last_head SET tree_size = %s, timestamp_ms = %s, root_hash = %s,"
        " signature = %s WHERE log_id = %s",
        (head.tree_size, head.timestamp_ms, head.root_hash, head.signature, head.log_id),
    )


def two_visits(client: TestClient, container: Container, cell: Cell) -> tuple[TreeHead, TreeHead]:
    """Two signed heads: an older one, and the latest, which an auditor kept."""
    trade(client, container, payments=3)
    audit(container, cell)
    older = signed(cell)
    trade(client, container, payments=3)
    audit(container, cell)
    return older, signed(cell)


def test_a_restarted_worker_refuses_to_sign_over_a_rewrite_under_its_last_head(
    client: TestClient, container: Container, cell: Cell
) -> None:
    older, kept = two_visits(client, container, cell)
    victim = older.tree_size + 2
    rewrite_history(cell, victim)
    trade(client, container, payments=1)

    with pytest.raises(HistoryRewritten, match=f"signed head of size {kept.tree_size}"):
        audit(container, cell)  # a new AuditLog: as after a restart

    assert signed(cell).tree_size <= victim  # nothing signed over the rewrite
    # The refused batch appended nothing either: its lag (`paysource jobs`) grows.
    assert cell.audit_log.position() < cell.store.head()


def test_a_restarted_worker_refuses_a_rewrite_that_kept_every_head(
    client: TestClient, container: Container, cell: Cell
) -> None:
    older, kept = two_visits(client, container, cell)
    rewrite_history(cell, older.tree_size + 2, heads_above=kept.tree_size)

    with pytest.raises(HistoryRewritten, match=f"root of the signed head of size {kept.tree_size}"):
        audit(container, cell)


def test_a_restarted_worker_recomputes_the_leaves_no_head_covers_yet(
    client: TestClient, container: Container, cell: Cell
) -> None:
    clock = ManualClock()
    log = AuditLog(cell.audit_log, cell.audit.signer, clock, log_id=cell.name, head_every_s=60)
    trade(client, container, payments=1)
    run_audit_until_caught_up(AuditFollower(cell.store, log, wakeup=Wakeup()))
    kept = signed(cell)
    trade(client, container, payments=1)
    run_audit_until_caught_up(AuditFollower(cell.store, log, wakeup=Wakeup()))  # too soon to sign
    unsigned = leaf_positions(cell)[kept.tree_size :]
    assert unsigned
    edit_event(cell.database_url, unsigned[-1])  # its leaf left as it was

    with pytest.raises(HistoryRewritten, match=f"after the signed head of size {kept.tree_size}"):
        audit(container, cell)


def test_a_running_worker_refuses_even_when_its_record_of_the_last_head_is_lowered(
    client: TestClient, container: Container, cell: Cell
) -> None:
    log = AuditLog(
        cell.audit_log, cell.audit.signer, container.clock, log_id=cell.name, head_every_s=0
    )
    follower = AuditFollower(cell.store, log, wakeup=Wakeup(), batch_size=7)
    trade(client, container, payments=3)
    run_audit_until_caught_up(follower)
    older = signed(cell)
    trade(client, container, payments=3)
    run_audit_until_caught_up(follower)
    kept = signed(cell)
    rewrite_history(cell, older.tree_size + 2, lower_mark_to=older)
    trade(client, container, payments=1)

    with pytest.raises(HistoryRewritten, match=f"signed head of size {kept.tree_size}"):
        run_audit_until_caught_up(follower)

    assert signed(cell) == older


def test_an_auditor_with_the_kept_head_sees_a_rewrite_a_fooled_worker_signed(
    client: TestClient,
    container: Container,
    cell: Cell,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    older, kept = two_visits(client, container, cell)
    # Every trace of the later heads gone, and the worker restarted: the residual risk
    # (docs/audit.md). It signs; the auditor's kept head is what catches it.
    rewrite_history(cell, older.tree_size + 2, lower_mark_to=older)
    trade(client, container, payments=1)
    audit(container, cell)
    latest = signed(cell)
    staff = auditor(client)
    key = staff.get("/v1/audit/public_key").json()["public_key"]
    kept_file = tmp_path / "head.json"
    kept_file.write_text(json.dumps(kept.to_json()))

    answer = staff.get("/v1/audit/proof/consistency", first=kept.tree_size, second=latest.tree_size)

    assert answer.status_code == 200, answer.text  # its head is gone, the proof is not
    assert answer.json()["first"] is None
    proof = tmp_path / "consistency.json"
    proof.write_text(json.dumps(answer.json()))
    verify = ["consistency", str(proof), "--public-key", key, "--kept", str(kept_file)]
    assert audit_verifier.main(verify) == 1
    assert "the later tree does not extend the earlier one" in capsys.readouterr().out
    # Without the kept head, the service's own oldest head is all there is to check.
    oldest = staff.get("/v1/audit/tree_heads", limit=100).json()["data"][-1]
    answer = staff.get("/v1/audit/proof/consistency", first=oldest["tree_size"])
    proof.write_text(json.dumps(answer.json()))
    assert audit_verifier.main(["consistency", str(proof), "--public-key", key]) == 0


def test_the_kept_head_of_an_untouched_log_verifies(
    client: TestClient, container: Container, cell: Cell, tmp_path: Path
) -> None:
    _, kept = two_visits(client, container, cell)
    trade(client, container, payments=2)
    audit(container, cell)
    staff = auditor(client)
    key = staff.get("/v1/audit/public_key").json()["public_key"]
    kept_file = tmp_path / "head.json"
    kept_file.write_text(json.dumps(kept.to_json()))

    for second in (signed(cell).tree_size, kept.tree_size):  # grown, and as kept
        answer = staff.get("/v1/audit/proof/consistency", first=kept.tree_size, second=second)
        proof = tmp_path / "consistency.json"
        proof.write_text(json.dumps(answer.json()))
        verify = ["consistency", str(proof), "--public-key", key, "--kept", str(kept_file)]
        assert audit_verifier.main(verify) == 0, answer.text
