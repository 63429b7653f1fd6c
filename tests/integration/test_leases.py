"""Job leases are of one database: workers of another database on the same Postgres
cluster (staging beside production, another tenant) neither count as members nor hold
this database's jobs."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from paysource.adapters.postgres.leases import Leases, holders

JOBS = ["cell-0/processor-0-of-1", "cell-0/payouts", "cell-0/webhook-outbox", "cell-0/audit-log"]


@pytest.fixture
def other_database(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS paysource_other_env")
        conn.execute("CREATE DATABASE paysource_other_env")
    yield make_conninfo(**{**conninfo_to_dict(database_url), "dbname": "paysource_other_env"})
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS paysource_other_env WITH (FORCE)")


def test_workers_of_another_database_are_not_members_nor_holders(
    database_url: str, other_database: str
) -> None:
    ours, theirs = Leases(database_url, JOBS), Leases(other_database, JOBS)
    try:
        ours.join()
        theirs.join()
        assert theirs.try_acquire("cell-0/payouts")

        # Counting the other database's worker, ours would hold half the jobs and leave
        # the rest to no one.
        assert ours.members() == 1
        assert [h.application for h in holders(database_url, JOBS)] == [None] * len(JOBS)
        assert ours.try_acquire("cell-0/payouts")
    finally:
        ours.release_all()
        theirs.release_all()
