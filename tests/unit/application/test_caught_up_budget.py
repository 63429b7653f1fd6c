"""A read-model wait longer than the request's database budget ends as the wait's own
503 (`ReadModelBehind`), not as a spent budget, however slow its polls."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from paysource.application.caught_up import CaughtUp
from paysource.application.deadlines import (
    DatabaseBudgetSpent,
    bounded_wait_s,
    database_budget,
)
from paysource.application.errors import ReadModelBehind
from paysource.application.eventlog import EventStore

QUERY_S = 0.03  # a poll's query on a loaded machine


class BehindStore:
    """The log's head at 10, the read model at 5 with an event of its topics pending."""

    def head(self) -> int:
        return 10

    def select(self, **_: Any) -> list[tuple[int, object]]:
        return [(6, object())]


def slow_position() -> int:
    # A query under the budget: refused once it is spent, as the pools refuse theirs.
    bounded_wait_s(QUERY_S)
    time.sleep(QUERY_S)
    return 5


def test_slow_polls_do_not_spend_the_request_budget() -> None:
    wait = CaughtUp(
        cast(EventStore, BehindStore()), "ledger", ["topic"], slow_position, timeout_s=0.6
    )

    with database_budget(0.2), pytest.raises(ReadModelBehind):
        wait()


def test_a_wait_still_ends_when_its_first_query_finds_the_budget_spent() -> None:
    wait = CaughtUp(cast(EventStore, BehindStore()), "ledger", ["topic"], slow_position)

    with database_budget(0.0), pytest.raises(DatabaseBudgetSpent):
        wait()
