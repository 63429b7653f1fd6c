"""`paysource jobs` counts a job's lag in the events it follows, as `projections status`
does: a job whose events are rare is not behind because the log moved on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.entrypoints.worker import job_statuses
from tests.helpers import admin, drain


def test_a_job_is_behind_only_by_events_it_follows(
    client: TestClient, container: Container
) -> None:
    merchant = admin(client).merchant()
    for _ in range(3):
        merchant.pay(1_000)
    drain(container)  # the processor and the read models; not payouts, not the notifier

    lag = {s.job.split("/", 1)[1]: s.lag_events for s in job_statuses(container)}

    assert lag["payouts"] == 0  # no settlement since it last ran: nothing to do
    assert lag["projection-payments"] == 0
    assert (lag["payment-notifier"] or 0) > 0  # it never ran: every payment event waits
