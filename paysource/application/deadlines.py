"""How long the current request may still wait for the database.

The HTTP layer opens a budget per request (`database_budget`); every pool checkout and
every statement under it is bounded by what is left, retries included, so a client
hears 503 + Retry-After within the budget instead of waiting out an outage. Past the
budget the outcome is the log's: a retry with the same Idempotency-Key replays what
committed. Workers open no budget and keep their pools' own, longer waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from paysource.application.errors import Unavailable

_deadline: ContextVar[float | None] = ContextVar("paysource_database_deadline", default=None)


class DatabaseBudgetSpent(Unavailable):
    """The request's database budget ran out (Postgres down, slow or exhausted)."""


@contextmanager
def database_budget(seconds: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def extend_budget(seconds: float) -> None:
    """Move the current deadline later (`Prefer: wait=N` asks to wait N more seconds)."""
    deadline = _deadline.get()
    if deadline is not None:
        _deadline.set(deadline + seconds)


def remaining_s() -> float | None:
    """Seconds left, or None outside a budget (workers, CLI)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def bounded_wait_s(own_timeout_s: float) -> float:
    """A wait of at most `own_timeout_s` and at most what the budget leaves; raises
    DatabaseBudgetSpent when nothing is left."""
    left = remaining_s()
    if left is None:
        return own_timeout_s
    if left <= 0:
        raise spent()
    return min(own_timeout_s, left)


def spent() -> DatabaseBudgetSpent:
    return DatabaseBudgetSpent("the database did not answer in time; retry shortly")
