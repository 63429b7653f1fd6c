"""`paysource jobs` counts the event relay's lag like any follower's (it has no topics:
the relay follows the events index, every event of the log counts)."""

from __future__ import annotations

from typing import Any, cast

from paysource.application.eventlog import Wakeup
from paysource.entrypoints.worker import Job, _lag
from paysource.processes.relay import EventRelay, RelayFollower


class Noted:
    def position(self, name: str) -> int:
        return 40


def test_the_relays_lag_is_the_log_after_what_it_handled() -> None:
    relay = EventRelay("cell-0", cast(Any, Noted()), cast(Any, None), batch_size=10)
    follower = RelayFollower(cast(Any, None), relay, wakeup=Wakeup())
    job = Job("cell-0/event-relay", follower.run, follower)
    assert _lag(job, 100, cast(Any, None)) == 60
