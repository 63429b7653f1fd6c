"""The worker's audit-log job, started on an empty log, appends the events that come
later and signs a head (it once looped forever on its first, empty, batch)."""

from __future__ import annotations

import time

import httpx
import psycopg

from paysource.bootstrap import Container
from paysource.entrypoints.worker import Worker
from tests.conftest import ADMIN_KEY
from tests.helpers import live_server


def audit_counts(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        leaves = conn.execute("SELECT count(*) FROM audit_leaves").fetchone()
        heads = conn.execute("SELECT count(*) FROM audit_tree_heads").fetchone()
    assert leaves is not None
    assert heads is not None
    return int(leaves[0]), int(heads[0])


def test_a_worker_started_on_an_empty_log_audits_what_comes_later(
    container: Container, database_url: str
) -> None:
    worker = Worker(container)
    worker.start()
    try:
        time.sleep(1.0)  # its first pass finds nothing to append
        with live_server(container) as url, httpx.Client(base_url=url) as client:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            assert client.post("/v1/merchants", json={"name": "A"}, headers=admin).is_success
        deadline = time.monotonic() + 15
        while audit_counts(database_url) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        leaves, heads = audit_counts(database_url)
        assert leaves > 0
        assert heads > 0
    finally:
        worker.stop()
