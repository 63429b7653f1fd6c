"""Calls from concurrent threads served by one call over all of them (leader batching).

The first caller to find no call running leads: it takes every item waiting at that
moment (its own first), runs them in one call, hands each caller its own result, and
passes the lead to the first caller still waiting. Items that arrive while a call runs
wait for the next one. Nothing waits for a batch to fill: a caller alone runs alone,
at once, on its own thread (no thread of its own to start, stop or hop to).

Two items with one key never go in one call: the later waits for the next (a
statement's `ON CONFLICT DO UPDATE` may not touch one row twice).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("error", "item", "ready", "result", "served")

    def __init__(self, item: T) -> None:
        self.item = item
        self.ready = threading.Event()  # served, or handed the lead
        self.served = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def serve(self, result: R | None, error: BaseException | None) -> None:
        self.result, self.error, self.served = result, error, True
        self.ready.set()


class Batched(Generic[T, R]):
    """`run(items)` returns one result per item, in order; calling this object with an
    item returns that item's result, or raises the error its call met."""

    def __init__(
        self,
        run: Callable[[Sequence[T]], Sequence[R]],
        *,
        key: Callable[[T], Hashable],
        max_batch: int = 64,
    ) -> None:
        self._run = run
        self._key = key
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Slot[T, R]] = []
        self._busy = False

    def __call__(self, item: T) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            leads = not self._busy
            self._busy = True
        if not leads:
            slot.ready.wait()
        if not slot.served:  # it leads: the first waiting, so its own call serves it
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # served without error

    def _lead(self) -> None:
        taken = self._take()
        try:
            results = self._run([slot.item for slot in taken])
            if len(results) != len(taken):
                raise ValueError(f"{len(results)} results for {len(taken)} items")
        # Not swallowed: each caller of the call raises it, as it would have alone (an
        # interrupt too, or they would wait for ever).
        except BaseException as error:  # noqa: BLE001
            for slot in taken:
                slot.serve(None, error)
        else:
            for slot, result in zip(taken, results, strict=True):  # checked above
                slot.serve(result, None)
        finally:
            self._pass_lead()

    def _take(self) -> list[_Slot[T, R]]:
        taken: list[_Slot[T, R]] = []
        left: list[_Slot[T, R]] = []
        keys: set[Hashable] = set()
        with self._lock:
            for slot in self._waiting:
                key = self._key(slot.item)
                if len(taken) < self._max_batch and key not in keys:
                    keys.add(key)
                    taken.append(slot)
                else:
                    left.append(slot)
            self._waiting = left
        return taken

    def _pass_lead(self) -> None:
        with self._lock:
            if not self._waiting:
                self._busy = False
                return
            following = self._waiting[0]
        following.ready.set()  # not served: so it leads
