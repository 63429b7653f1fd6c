"""The worker killed with SIGKILL three times under load: the API keeps answering in
time, and the restarted worker finishes every payment once."""

from __future__ import annotations

import time

import pytest

from tests.faults.harness import Deployment, Load, check_books, new_merchant


@pytest.mark.slow
def test_worker_kill_9_under_load_loses_and_doubles_nothing(
    deployment: Deployment, fault_database: str
) -> None:
    load = Load(deployment.base, new_merchant(deployment.base)).start()
    for _ in range(3):
        time.sleep(2)
        deployment.kill_worker()
        time.sleep(0.5)
        deployment.start_worker()
    time.sleep(2)
    load.stop()
    print(f"worker kill -9 x3: {load.summary()}")

    failed = [a for a in load.answers if a.status >= 500]
    assert not failed, f"the API failed without Postgres down:\n{deployment.why(failed)}"
    check_books(load, fault_database)
