"""The log tail: the newest events read and decoded once for every follower of a process."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paysource.application.logtail import LogTail


@dataclass(frozen=True)
class Row:
    id: int
    topic: str


class Log:
    """A log of rows; counts how often it is read and how many rows get decoded."""

    def __init__(self, topics: Sequence[str] = ()) -> None:
        self.rows = [Row(n + 1, topic) for n, topic in enumerate(topics)]
        self.fetches = self.decoded = 0

    def append(self, *topics: str) -> None:
        self.rows += [Row(len(self.rows) + n + 1, topic) for n, topic in enumerate(topics)]

    def fetch(self, after: int, limit: int) -> list[Row]:
        self.fetches += 1
        return [row for row in self.rows if row.id > after][:limit]

    def decode(self, row: Row) -> Any:
        self.decoded += 1
        return ("event", row.id)

    def head(self) -> int:
        return len(self.rows)

    def tail(self, **options: Any) -> LogTail:
        return LogTail(self.fetch, self.decode, self.head, **options)


def ids(found: tuple[list[tuple[int, Any]], int] | None) -> tuple[list[int], int]:
    assert found is not None
    return [number for number, _ in found[0]], found[1]


def test_new_events_are_read_and_decoded_once_for_every_follower() -> None:
    log = Log(["a", "b"])
    tail = log.tail()
    assert ids(tail.select(after=2, limit=10, topics=[], seen=0)) == ([], 2)
    log.append("a", "b", "a")

    first = tail.select(after=2, limit=10, topics=["a"], seen=1)
    others = [tail.select(after=2, limit=10, topics=["b"], seen=1) for _ in range(5)]

    assert ids(first) == ([3, 5], 5)
    assert all(ids(found) == ([4], 5) for found in others)
    assert (log.fetches, log.decoded) == (2, 3), "one read after the wake-up, one decode each"


def test_a_batch_stops_at_its_limit_and_says_how_far_it_scanned() -> None:
    log = Log()
    tail = log.tail()
    tail.select(after=0, limit=1, topics=[], seen=0)
    log.append("a", "b", "a", "a")

    assert ids(tail.select(after=0, limit=2, topics=["a"], seen=1)) == ([1, 3], 3)
    assert ids(tail.select(after=3, limit=2, topics=["a"], seen=1)) == ([4], 4)
    assert ids(tail.select(after=4, limit=2, topics=["a"], seen=1)) == ([], 4)


def test_a_follower_behind_the_tail_reads_the_database_itself() -> None:
    log = Log(["a"] * 5)
    tail = log.tail()

    assert tail.select(after=2, limit=10, topics=[], seen=0) is None
    assert ids(tail.select(after=5, limit=10, topics=[], seen=0)) == ([], 5)


def test_without_a_wake_up_a_stale_copy_is_read_again_so_a_lost_notification_stalls_nobody() -> (
    None
):
    log = Log()
    tail = log.tail(max_age_s=0.05)
    tail.select(after=0, limit=10, topics=[], seen=7)
    log.append("a")

    assert ids(tail.select(after=0, limit=10, topics=[], seen=7)) == ([], 0), "fresh: not read"
    time.sleep(0.06)
    assert ids(tail.select(after=0, limit=10, topics=[], seen=7)) == ([1], 1)


def test_it_keeps_at_most_its_capacity_and_sends_older_readers_to_the_database() -> None:
    log = Log()
    tail = log.tail(capacity=4, fetch_limit=3)
    tail.select(after=0, limit=1, topics=[], seen=0)
    log.append(*["a"] * 6)

    assert ids(tail.select(after=5, limit=10, topics=[], seen=1)) == ([6], 6)
    assert tail.select(after=1, limit=10, topics=[], seen=1) is None
