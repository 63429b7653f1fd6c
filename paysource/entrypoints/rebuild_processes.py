"""`projections rebuild --all` on several processes, the read models shared out among them.

A rebuild is Python-bound: one process works at one core's pace, whatever the machine
has (the GIL), and Postgres waits on it. Each process here rebuilds a group of read
models in one read of the log for that group (`rebuilding.rebuild_all`), swaps each in
as it always does, and reports back. The groups are balanced by what each read model
costs to rebuild: on the 2-core bench machine two processes rebuilt the 200k-event log
in 12-14 s where one took 17-19 s (bench/README.md). Read models share no table, so the
processes never touch the same rows; each holds its read models' maintenance locks, so
a second rebuild of the same ones is refused as before.

Children are spawned (not forked: the parent holds pools and threads) and rebuild one
cell, building only its router from the settings they are given.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any

from paysource.config import Settings
from paysource.entrypoints.runtime import tune_gc
from paysource.readmodels.rebuilding import Progress, RebuildReport, rebuild_all

log = logging.getLogger(__name__)

# Each read model's share of a rebuild's CPU, as measured alone on bench/readside.py's
# log (CPU seconds, Python and Postgres; bench/README.md). Only the balance between the
# processes depends on them: a log of another mix is rebuilt as correctly, less evenly.
WEIGHTS: dict[str, float] = {
    "ledger": 9.3,
    "events": 7.6,
    "payments": 6.3,
    "transactions": 6.1,
    "settlements": 4.3,
    "finance": 2.4,
    "directory": 0.6,
}
DEFAULT_WEIGHT = 1.0
POLL_S = 0.2
CLEANUP_S = 20  # for the children to leave after SIGTERM, their scratch schemas dropped


def groups(names: Sequence[str], processes: int) -> list[list[str]]:
    """`names` in at most `processes` groups of about equal weight (heaviest first, each
    into the lightest group so far); every name in exactly one group, none empty."""
    count = max(1, min(processes, len(names)))
    loads: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(count)]
    for name in sorted(names, key=lambda n: (-WEIGHTS.get(n, DEFAULT_WEIGHT), n)):
        lightest = min(range(count), key=lambda i: loads[i][0])
        weight, members = loads[lightest]
        loads[lightest] = (weight + WEIGHTS.get(name, DEFAULT_WEIGHT), [*members, name])
    return [members for _, members in loads if members]


class RebuildFailed(RuntimeError):
    """A child process could not rebuild its read models (its message says why)."""


@dataclass(frozen=True, slots=True)
class _Job:
    settings: Settings
    cell: str
    names: list[str]
    batch_size: int
    number: int


@dataclass(frozen=True, slots=True)
class _Message:
    group: int
    kind: str  # "progress", "done" or "failed"
    payload: Any


def rebuild_in_processes(
    settings: Settings,
    cell: str,
    names: Sequence[str],
    *,
    processes: int,
    batch_size: int,
    progress: Progress | None = None,
) -> list[RebuildReport]:
    """Rebuild `names` of `cell`, their groups each in a process of its own; the reports
    in `names`' order. `progress` sees the group furthest behind."""
    shares = groups(names, processes)
    context = multiprocessing.get_context("spawn")
    inbox: multiprocessing.Queue[_Message] = context.Queue()
    children = [
        context.Process(
            target=_child,
            args=(_Job(settings, cell, group, batch_size, number), inbox),
            name=f"rebuild-{number}",
            daemon=True,
        )
        for number, group in enumerate(shares)
    ]
    log.info("rebuilding %s on %d processes: %s", cell, len(children), shares)
    for child in children:
        child.start()
    try:
        found = _collect(children, inbox, progress)
    finally:
        _stop(children)
    by_name = {report.name: report for reports in found for report in reports}
    return [by_name[name] for name in names]


def _stop(children: Sequence[SpawnProcess]) -> None:
    """An error elsewhere, or Ctrl-C: the rest is moot. Each child drops its scratch
    schemas as it leaves; one that outlives `CLEANUP_S` is killed, and what it left is
    dropped by the next rebuild (`rebuilding._prepare`)."""
    for child in children:
        if child.is_alive():
            child.terminate()
    deadline = time.monotonic() + CLEANUP_S
    for child in children:
        child.join(timeout=max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            log.warning(
                "rebuild process %s did not stop within %d s: killed", child.name, CLEANUP_S
            )
            child.kill()
            child.join()


def _collect(
    children: Sequence[SpawnProcess],
    inbox: multiprocessing.Queue[_Message],
    progress: Progress | None,
) -> list[list[RebuildReport]]:
    """Every child's reports; a failure of any raises at once (the caller stops the rest)."""
    done: dict[int, list[RebuildReport]] = {}
    positions: dict[int, tuple[int, int, float]] = {}
    ended: set[int] = set()
    while len(done) < len(children):
        try:
            message = inbox.get(timeout=POLL_S)
        except queue.Empty:
            # Ended without a word: a failure, once the queue has had one more wait to
            # deliver a last message still on its way from the child.
            silent = _ended(children, done)
            if lost := sorted(silent & ended):
                code = children[lost[0]].exitcode
                raise RebuildFailed(
                    f"rebuild process {lost[0]} ended (exit code {code}) before reporting"
                ) from None
            ended = silent
            continue
        if message.kind == "failed":
            raise RebuildFailed(f"rebuild process {message.group}: {message.payload}")
        if message.kind == "done":
            done[message.group] = message.payload
        elif progress is not None:
            positions[message.group] = message.payload
            position = min(p for p, _, _ in positions.values())
            head = max(h for _, h, _ in positions.values())
            rate = min(r for _, _, r in positions.values())
            progress(position, head, rate)
    return [done[number] for number in sorted(done)]


def _ended(children: Sequence[SpawnProcess], done: dict[int, Any]) -> set[int]:
    """The children that are gone without having reported."""
    return {
        number
        for number, child in enumerate(children)
        if number not in done and not child.is_alive() and child.exitcode is not None
    }


def _child(job: _Job, outbox: multiprocessing.Queue[_Message]) -> None:
    """A spawned process: its own pools, its group rebuilt, the reports sent back."""
    from paysource import logs  # noqa: PLC0415  # a fresh interpreter sets its logging up
    from paysource.bootstrap import build_router  # noqa: PLC0415

    _stop_only_when_told()
    tune_gc()
    logs.configure_for(job.settings)
    number, last = job.number, 0.0

    def show(position: int, head: int, rate: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= POLL_S or position >= head:  # the parent's bar needs no more
            last = now
            outbox.put(_Message(number, "progress", (position, head, rate)))

    try:
        router = build_router(job.settings, job.settings.database_url or "")
        try:
            cell = router.named(job.cell)
            if cell is None:
                raise LookupError(f"no cell named {job.cell}")
            reports = rebuild_all(
                job.names,
                cell.store,
                cell.read.datastore,
                batch_size=job.batch_size,
                progress=show,
            )
        finally:
            for each in router.all():
                each.close()
    except Exception as error:  # the parent raises it, with the child's words
        log.exception("rebuild of %s failed", ", ".join(job.names))
        outbox.put(_Message(number, "failed", f"{type(error).__name__}: {error}"))
        return
    outbox.put(_Message(number, "done", reports))


def _stop_only_when_told() -> None:
    """Ctrl-C reaches the whole process group: the parent alone handles it, and stops
    the children with SIGTERM, which here unwinds like an error (the scratch schemas
    are dropped, an open swap rolls back) instead of killing the process where it is."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave)


def _leave(*_: object) -> None:
    # Once: a second SIGTERM (multiprocessing's exit handler sends one to every daemon
    # child still alive) would cut the cleanup short and leave the scratch schemas.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(143)
