"""The retry schedule: exponential, jittered, capped, for up to three days."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from paysource.application.webhooks.queue import RetrySchedule

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def test_delays_double_until_the_cap_and_are_jittered_within_half_to_full() -> None:
    schedule = RetrySchedule(base_delay_s=30, max_delay_s=6 * 3600)
    rng = random.Random(1)

    ceilings = [schedule.ceiling_s(n) for n in range(1, 14)]
    assert ceilings[:4] == [30, 60, 120, 240]
    assert ceilings[-1] == 6 * 3600
    for failures in range(1, 30):
        retry_in = schedule.verdict(failures=failures, enqueued_at=T0, now=T0, rng=rng).retry_in
        assert retry_in is not None
        ceiling = schedule.ceiling_s(failures)
        assert ceiling / 2 <= retry_in.total_seconds() <= ceiling


def test_a_receiver_that_never_answers_is_retried_for_three_days_then_given_up() -> None:
    schedule = RetrySchedule()
    rng = random.Random(7)
    now, failures = T0, 0
    while True:
        failures += 1
        verdict = schedule.verdict(failures=failures, enqueued_at=T0, now=now, rng=rng)
        if verdict.status == "failed":
            break
        assert verdict.retry_in is not None
        now += verdict.retry_in

    assert now == T0 + timedelta(days=3)  # the last retry is at the end of the budget
    assert 15 <= failures <= schedule.max_attempts


def test_attempts_stop_at_max_attempts_whatever_the_budget() -> None:
    schedule = RetrySchedule(max_attempts=3)
    rng = random.Random(3)

    assert schedule.verdict(failures=2, enqueued_at=T0, now=T0, rng=rng).status == "pending"
    assert schedule.verdict(failures=3, enqueued_at=T0, now=T0, rng=rng).status == "failed"


def test_the_spent_budget_gives_up_at_once() -> None:
    schedule = RetrySchedule(budget=timedelta(hours=1))
    late = T0 + timedelta(hours=1)

    verdict = schedule.verdict(failures=1, enqueued_at=T0, now=late, rng=random.Random())

    assert verdict.status == "failed"
