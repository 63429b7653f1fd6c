"""The machine's speed during a phase, measured by a small fixed piece of Python.

On the shared 2-core machines these benches run on, the same Python work takes 28 ms of
CPU one second and 45-55 ms a few seconds later, with nothing else of ours running and no
steal time reported (bench/README.md, "The machine's speed moves under us"). CPU per
payment moves with it, so two runs of one commit differ by a third, and a change worth
10% cannot be seen. The probe runs beside a phase and times a fixed unit of work (JSON
and UUIDs, as a payment's path does) ten times a second: `probe_ms` is how long that unit
took on average while the phase ran. Dividing a phase's CPU per operation by it gives a
figure in probe units, which stays put when the machine slows down.

It costs ~2% of one core (a child of the bench: counted in the bench's own CPU, not as
another process).

Run by `probe()`; `python speedprobe.py` is the child's side.
"""

from __future__ import annotations

import contextlib
import json
import select
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

EVERY_S = 0.1
UNIT_ITERATIONS = 500  # about 3 ms of CPU on a quiet machine here


@dataclass(frozen=True)
class Speed:
    """Milliseconds of CPU per unit of the probe's work: the mean over the phase, and the
    fastest unit seen (the machine when nothing got in its way)."""

    mean_ms: float
    best_ms: float
    units: int


def unit() -> float:
    """One unit of work; its CPU time in milliseconds."""
    payment = {"id": str(uuid.uuid4()), "amount": 1000, "currency": "USD", "meta": {"a": "b"}}
    began = time.process_time()
    for _ in range(UNIT_ITERATIONS):
        decoded = json.loads(json.dumps(payment))
        decoded["hex"] = uuid.UUID(decoded["id"]).hex
    return 1000 * (time.process_time() - began)


def child() -> None:
    """Time a unit every EVERY_S until stdin closes, then print the timings as JSON."""
    timings: list[float] = []
    while not select.select([sys.stdin], [], [], EVERY_S)[0]:
        timings.append(unit())
    print(json.dumps(timings), flush=True)


@contextlib.contextmanager
def probe() -> Iterator[list[Speed]]:
    """Yields a list that holds the phase's Speed once the block is done (none if the
    phase was too short for a unit)."""
    found: list[Speed] = []
    proc = subprocess.Popen(  # this very file, by the running interpreter
        [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        yield found
    finally:
        out, _ = proc.communicate(b"", timeout=30)  # closing stdin stops it
        timings = json.loads(out or b"[]")
        if timings:
            found.append(Speed(statistics.fmean(timings), min(timings), len(timings)))


if __name__ == "__main__":
    child()
