"""Postgres stopped as `pg_ctl stop -m immediate` does, under load, then started again.

Every answer within 2.5 s (503 + Retry-After while it is down), steady service within a
second or so of Postgres accepting connections, and the books intact afterwards.
"""

from __future__ import annotations

import os
import time

import pytest

from devtools.localservices import LocalPostgres
from tests.faults.harness import Deployment, Load, check_books, new_merchant, steady_after_s

# The suite's outage is short; docs/operations.md gives the command that measures 30 s.
OUTAGE_S = float(os.environ.get("PAYSOURCE_FAULT_OUTAGE_S", "6"))
STEADY_POLL_S = 10.0  # issue 12: no 503 in 10 s of polling once Postgres is back
# Issue 12 asks for 1 s; the test allows for a busy 2-core CI machine. docs/operations.md
# has the figures measured by hand.
STEADY_WITHIN_S = 2.0


@pytest.mark.slow
def test_an_immediate_stop_under_load_answers_in_time_and_loses_nothing(
    deployment: Deployment, fault_postgres: LocalPostgres, fault_database: str
) -> None:
    load = Load(deployment.base, new_merchant(deployment.base)).start()
    time.sleep(3)
    fault_postgres.crash()
    time.sleep(OUTAGE_S)
    fault_postgres.start_again()
    back = time.monotonic()
    time.sleep(STEADY_POLL_S)
    load.stop()

    print(f"postgres down {OUTAGE_S} s: {load.summary()}; {steady_after_s(load, back)}")
    unavailable = [a for a in load.answers if a.status == 503]
    assert unavailable, "the outage was not seen"
    steady_after = load.last_unavailable_after(back)
    assert steady_after is None or steady_after < STEADY_WITHIN_S, steady_after
    # No flapping: each pool's health says "unreachable" once for the one outage.
    log = deployment.log("serve")
    assert log.count("database unreachable") <= 3, log[-4000:]
    assert log.count("database reachable again") == log.count("database unreachable")
    check_books(load, fault_database)
