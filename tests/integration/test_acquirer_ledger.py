"""The simulator's Postgres ledger: operations of concurrent callers share statements,
and each caller still gets the operation stored under its own key."""

from __future__ import annotations

import random
import threading
from collections import Counter

import psycopg

from paysource.adapters.acquirer_sim import Operation, PostgresLedger


def _operation(key: str, n: int) -> Operation:
    # `n` differs between requests of one key: the stored answer must be the first's.
    return Operation(
        key=key,
        kind="authorize",
        payment_id=f"pay-{key}",
        reference=f"ref-{key}",
        amount_minor=100 + n,
        result={"approved": True, "n": n},
    )


def test_concurrent_requests_store_each_key_once_and_count_every_request(
    database_url: str,
) -> None:
    ledgers = [PostgresLedger(database_url), PostgresLedger(database_url)]  # two processes
    keys = [f"key-{i}" for i in range(12)]
    asked = [random.choice(keys) for _ in range(96)]
    answers: list[tuple[str, Operation]] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def requests(share: list[str], ledger: PostgresLedger) -> None:
        start.wait()
        for n, key in enumerate(share):
            stored = ledger.once(_operation(key, n))
            with lock:
                answers.append((key, stored))

    threads = [
        threading.Thread(target=requests, args=(asked[i::16], ledgers[i % 2])) for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(answers) == len(asked)
    first: dict[str, Operation] = {}
    for key, stored in answers:
        assert stored.key == key
        assert stored.payment_id == f"pay-{key}"
        assert stored.result == first.setdefault(key, stored).result  # the first answer
        assert stored.amount_minor == first[key].amount_minor
    counted = Counter(asked)
    for key in counted:
        (row,) = ledgers[0].operations(f"pay-{key}")
        assert row.requests == counted[key]


def test_its_connections_are_named_so_its_database_cost_can_be_told_apart(
    database_url: str,
) -> None:
    ledger = PostgresLedger(database_url)
    ledger.once(_operation("named", 0))

    with psycopg.connect(database_url) as conn:
        names = conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE pid = %s",
            (ledger._conn().info.backend_pid,),
        ).fetchall()
    assert names == [("acquirer_sim",)]
