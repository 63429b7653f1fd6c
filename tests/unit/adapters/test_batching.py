"""Leader batching: concurrent callers share calls, and each gets its own answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.adapters.batching import Batched


class Recorder:
    """Runs a call as a ledger would: the answer names the item and its call."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on
        self.running = 0
        self.overlapped = False
        self._lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, items: Sequence[str]) -> list[tuple[str, int]]:
        with self._lock:
            self.running += 1
            self.overlapped |= self.running > 1
            self.calls.append(list(items))
            call = len(self.calls)
        self.gate.wait(5)
        with self._lock:
            self.running -= 1
        if self.fail_on in items:
            raise RuntimeError(f"call {call} refused")
        return [(item, call) for item in items]


def _call_all(
    batched: Batched[str, tuple[str, int]], run: Recorder, items: list[str]
) -> list[object]:
    """Every item called while a first call ("plug") holds the lead, so they queue."""
    answers: list[object] = [None] * len(items)

    def call(i: int) -> None:
        try:
            answers[i] = batched(items[i])
        except RuntimeError as error:
            answers[i] = error

    run.gate.clear()
    plug = threading.Thread(target=batched, args=("plug",))
    plug.start()
    _until(lambda: bool(run.calls))
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    _until(lambda: len(batched._waiting) == len(items))
    run.gate.set()
    for thread in [plug, *threads]:
        thread.join(10)
    return answers


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=24),
    max_batch=st.integers(1, 6),
)
def test_each_caller_gets_its_own_item_back_from_a_call_that_held_it(
    items: list[str], max_batch: int
) -> None:
    run = Recorder()
    batched = Batched(run, key=lambda item: item, max_batch=max_batch)

    answers = _call_all(batched, run, items)

    assert not run.overlapped  # one call at a time
    assert run.calls[0] == ["plug"]
    assert sorted(item for call in run.calls[1:] for item in call) == sorted(items)
    assert len(run.calls) - 1 >= max(items.count(i) for i in items)
    for call in run.calls:
        assert len(call) <= max_batch
        assert len(set(call)) == len(call)  # one key at most once a call
    for item, answer in zip(items, answers, strict=True):
        assert isinstance(answer, tuple)
        assert answer[0] == item
        assert item in run.calls[answer[1] - 1]
    if len(set(items)) == len(items) and len(items) <= max_batch:
        assert len(run.calls) == 2  # all waiting shared one call


def test_an_error_reaches_the_callers_of_its_call_only() -> None:
    run = Recorder(fail_on="bad")
    run.gate.clear()
    batched = Batched(run, key=lambda item: item)
    answers: dict[str, object] = {}

    def call(item: str) -> None:
        try:
            answers[item] = batched(item)
        except RuntimeError as error:
            answers[item] = error

    first = threading.Thread(target=call, args=("alone",))
    first.start()
    _until(lambda: bool(run.calls))
    second = [threading.Thread(target=call, args=(item,)) for item in ("bad", "good")]
    for thread in second:
        thread.start()
    _until(lambda: len(batched._waiting) == 2)
    run.gate.set()
    first.join(5)
    for thread in second:
        thread.join(5)
    assert answers["alone"] == ("alone", 1)  # the call before it answered as usual
    assert isinstance(answers["bad"], RuntimeError)
    assert isinstance(answers["good"], RuntimeError)  # shared the refused call

    assert batched("after") == ("after", 3)  # the lead is free again


def test_a_caller_alone_runs_at_once_on_its_own_thread() -> None:
    seen: list[threading.Thread] = []

    def run(items: Sequence[str]) -> list[str]:
        seen.append(threading.current_thread())
        return list(items)

    batched = Batched(run, key=lambda item: item)

    assert batched("x") == "x"
    assert seen == [threading.current_thread()]
    with pytest.raises(ValueError, match="0 results for 1 items"):
        Batched(lambda items: [], key=lambda item: item)("lost")
