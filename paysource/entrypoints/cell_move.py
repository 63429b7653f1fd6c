"""Moving a merchant from one cell to another (`paysource cells move`).

1. Mark the move in the directory (`moving_to`): within a second (the placements'
   cache) every API process answers the merchant's writes with 503 + Retry-After.
2. Wait out requests already past routing (their database budget) and the source
   cell's work for the merchant: every follower past the merchant's last event that
   it follows, the event relay (if the cell has one) past its indexed events, and no
   webhook delivery of it in flight. Else abort, saying why.
3. Seal the source against the merchant's writes (a write routed before the mark that
   committed meanwhile sends the move back to step 2), then copy its events, data keys
   and webhook queue into the target in one transaction
   (paysource.adapters.postgres.moves).
4. Switch the directory entry (which clears the mark), then delete the merchant's
   read-model and webhook rows in the source, which keeps its events as history, and
   destroy the source's copies of its customers' data keys: their personal data in
   those events is unreadable there, as after an erasure (the target's keys are the
   only ones left, so an erasure in the target is one everywhere).

Any failure before the switch clears the mark: the merchant stays where it was, and
the target holds nothing of it (the copy is one transaction). Unless the copy had
committed (the answer to its COMMIT lost, or an interrupt just after): then the mark
and the seal stay, and `--recover` finishes the move (`MoveUnfinished`). A move into a cell the
merchant left is refused before step 1: that cell keeps its events as history, so it
cannot take them again (docs/operations.md: move it to a cell it has not been in).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg

from paysource.adapters.postgres import moves
from paysource.adapters.postgres.moves import MoveRefused, Sealing
from paysource.application.eventlog import BatchHandler
from paysource.bootstrap import Cell, Container, process_parts
from paysource.processes.audit_log import AUDIT_NAME
from paysource.processes.catalog import Group, process_jobs
from paysource.processes.relay import RELAY_NAME
from paysource.readmodels.view import ProjectionHandler

__all__ = ["MoveRefused", "MoveUnfinished", "Moved", "move_merchant", "recover_move"]

Say = Callable[[str], None]


class MoveUnfinished(Exception):
    """The move failed after its copy committed in the target (or may have): it is
    kept, marked and sealed, for `cells move --recover` to finish."""


@dataclass(frozen=True, slots=True)
class Moved:
    merchant_id: UUID
    source: str
    target: str
    aggregates: int
    positions: tuple[int, int]  # where its events are in the target's log


def move_merchant(
    container: Container,
    merchant_id: UUID,
    target_name: str,
    *,
    timeout_s: float = 60.0,
    say: Say = lambda _: None,
) -> Moved:
    source, target = _cells(container, merchant_id, target_name)
    with moves.move_lock(container.router.directory.database_url, merchant_id):
        return _move(container, merchant_id, source, target, timeout_s=timeout_s, say=say)


def _move(
    container: Container,
    merchant_id: UUID,
    source: Cell,
    target: Cell,
    *,
    timeout_s: float,
    say: Say,
) -> Moved:
    placements = container.router.placements
    assert placements is not None  # _cells refuses a single cell
    placements.mark_moving(merchant_id, source.name, target.name)
    say(f"marked: writes of the merchant get 503 until the switch ({source.name} → {target.name})")
    try:
        moves.fence(source.database_url, merchant_id, target.name)
        # A sweep that read the merchant's rows just before the fence finishes its
        # work within this wait too, and `_at_rest` waits for what that work causes.
        time.sleep(placements.ttl_s + container.settings.db_request_budget_s)
        ids, last = _sealed(container, source, merchant_id, time.monotonic() + timeout_s, say)
        positions = moves.copy_merchant(
            source.database_url,
            target.database_url,
            merchant_id=merchant_id,
            aggregate_ids=ids,
            source_cell=source.name,
        )
    except BaseException as error:
        if _copy_may_stand(target, merchant_id, error):
            raise MoveUnfinished(
                f"the copy into {target.name} committed (or may have) before {error!r}:"
                " the move is kept, its mark and seal stay (the merchant's writes get 503"
                " until it is finished with `cells move --recover`)"
            ) from error
        _undo(container, source, merchant_id)
        raise
    say(f"copied {len(ids)} objects to {target.name} (positions {positions[0]}-{positions[1]})")
    _switch(container, merchant_id, source, target, aggregate_ids=ids, last=last)
    say(f"switched: the merchant is in {target.name}; {source.name} keeps its events as history")
    return Moved(merchant_id, source.name, target.name, len(ids), positions)


def _switch(
    container: Container,
    merchant_id: UUID,
    source: Cell,
    target: Cell,
    *,
    aggregate_ids: Sequence[UUID],
    last: int,
) -> None:
    placements = container.router.placements
    assert placements is not None
    placements.switch(merchant_id, target.name)
    moves.forget_merchant(
        source.database_url,
        merchant_id,
        aggregate_ids=aggregate_ids,
        target_cell=target.name,
        last_position=last,
    )


def recover_move(container: Container, merchant_id: UUID) -> str:
    """A move whose command died between its mark and its switch (the merchant's writes
    get 503 until then): finished if its copy committed in the target, else undone, as
    the move itself would have. Refused while a move of the merchant is running."""
    placements = container.router.placements
    if placements is None:
        raise MoveRefused("there is one cell: nothing to recover")
    if moves.move_alive(container.router.directory.database_url, merchant_id):
        raise MoveRefused("a `cells move` of this merchant is running: let it finish or fail")
    placements.forget(merchant_id)  # the directory as it is now, not a second-old copy
    target_name = placements.placement(merchant_id).moving_to
    if target_name is None:
        raise MoveRefused("no move of this merchant is under way")
    source = container.router.for_merchant(merchant_id)
    target = container.router.named(target_name)
    if target is None:
        raise MoveRefused(f"the move names {target_name!r}, which is not a configured cell")
    if moves.copied_into(target.database_url, merchant_id):
        found: set[UUID] = set()
        moves.merchant_aggregates(source.database_url, source.store.decode, merchant_id, found)
        events = moves.last_positions(source.database_url, found)
        last = events[-1][0] if events else 0
        _switch(container, merchant_id, source, target, aggregate_ids=sorted(found), last=last)
        return f"finished: its copy had committed; the merchant is in {target.name}"
    _undo(container, source, merchant_id)
    return f"undone: nothing had been copied; the merchant stays in {source.name}"


def _copy_may_stand(target: Cell, merchant_id: UUID, error: BaseException) -> bool:
    """Whether the copy may have committed in the target before the move failed with
    `error`: then undoing would let the source take the merchant's writes while the
    target holds a copy, so only `--recover` (which looks again) may finish it."""
    try:
        return moves.copied_into(target.database_url, merchant_id)
    except psycopg.Error:  # the target cannot be asked: only a commit sent may stand
        return isinstance(error, moves.CommitUnknown)


def _undo(container: Container, source: Cell, merchant_id: UUID) -> None:
    """A move that copied nothing: the source takes the merchant again."""
    placements = container.router.placements
    assert placements is not None
    moves.unseal(source.database_url, merchant_id)
    moves.unfence(source.database_url, merchant_id)
    moves.release_deliveries(source.database_url, merchant_id)
    placements.clear_moving(merchant_id)


def _cells(container: Container, merchant_id: UUID, target_name: str) -> tuple[Cell, Cell]:
    router = container.router
    if router.placements is None:
        raise MoveRefused("there is one cell (set PAYSOURCE_CELLS to add others)")
    target = router.named(target_name)
    if target is None:
        raise MoveRefused(f"no cell named {target_name!r}; see `paysource cells list`")
    container.merchants.get_merchant(merchant_id)  # NotFound for an unknown merchant
    source = router.for_merchant(merchant_id)
    if source.name == target.name:
        raise MoveRefused(f"the merchant is in {target_name} already")
    moves.refuse_return(target.database_url, target.name, merchant_id)
    return source, target


def _sealed(
    container: Container, cell: Cell, merchant_id: UUID, deadline: float, say: Say
) -> tuple[list[UUID], int]:
    """The merchant's aggregates and last position, once the source's work for it is
    done and the source is sealed against its writes (`moves.seal`). A write that
    passed routing before the mark and committed since the last look (a slow request,
    a queued group commit, a sweep or a CLI command that read the merchant before the
    fence) is looked at again: its work, too, must be done."""
    found: set[UUID] = set()
    refused: set[UUID] = set()
    scanned = 0
    followers = source_followers(container, cell)  # built once, not again per look
    while True:
        scanned, last = _at_rest(
            container,
            cell,
            merchant_id,
            followers,
            found=found,
            scanned=scanned,
            deadline=deadline,
            say=say,
        )
        moves.refuse_writes(cell.database_url, merchant_id, found - refused)
        refused |= found
        sealing = moves.seal(
            cell.database_url, cell.store.decode, merchant_id, found, scanned=scanned, last=last
        )
        if sealing is Sealing.SEALED:
            return sorted(found), last
        if time.monotonic() > deadline:
            raise MoveRefused(_STUCK[sealing])
        say(_AGAIN[sealing])


_STUCK = {
    Sealing.WROTE: "the merchant's writes routed before the mark kept committing",
    Sealing.BUSY: "the source's events table stayed locked by other writes: retry when"
    " the cell is quieter",
}
_AGAIN = {
    Sealing.WROTE: "the merchant wrote since (a command routed before the mark): looking again",
    Sealing.BUSY: "the source's events table was busy (the seal waits for its lock"
    f" {moves.SEAL_LOCK_TIMEOUT_S:g} s at most, so as not to hold up other writers):"
    " trying again",
}


def _at_rest(
    container: Container,
    cell: Cell,
    merchant_id: UUID,
    followers: Sequence[BatchHandler],
    *,
    found: set[UUID],
    scanned: int,
    deadline: float,
    say: Say,
) -> tuple[int, int]:
    """Add the merchant's aggregates to `found` and return the position scanned to and
    its last position, once the source's work for it is done; MoveRefused at
    `deadline`, naming what is still busy (`followers`: the source's, `source_followers`)."""
    relays = container.settings.nats_url is not None
    while True:
        scanned = moves.merchant_aggregates(
            cell.database_url, cell.store.decode, merchant_id, found, after=scanned
        )
        events = moves.last_positions(cell.database_url, found)
        behind = [f.name for f in followers if f.position() < _last_followed(events, f.topics)]
        # After the events projection (among the followers): the index it wrote is what
        # the relay publishes, and the switch deletes the merchant's rows from it.
        if moves.relay_behind(cell.database_url, merchant_id, RELAY_NAME, configured=relays):
            behind.append(RELAY_NAME)
        # After the followers (the outbox among them) are past the merchant's events, no
        # delivery of it can appear: hold them all, and wait for those in flight.
        in_flight = moves.hold_deliveries(cell.database_url, merchant_id)
        if not behind and not in_flight:
            return scanned, (events[-1][0] if events else 0)
        if time.monotonic() > deadline:
            raise MoveRefused(
                f"the source cell's work for the merchant is not done: behind: {behind or '-'};"
                f" webhook deliveries in flight: {in_flight} (is its worker running?)"
            )
        say(f"waiting: behind: {behind or '-'}; deliveries in flight: {in_flight}")
        time.sleep(0.2)


def _last_followed(events: Sequence[tuple[int, str]], topics: Sequence[str]) -> int:
    wanted = set(topics)
    return max((n for n, topic in events if not wanted or topic in wanted), default=0)


def source_followers(container: Container, cell: Cell) -> list[BatchHandler]:
    """The cell's log followers whose work must be done before a merchant leaves: the
    process managers and the projections (not the audit log, which keeps the log's
    history, the copied events included; `_at_rest` waits for the relay on its own)."""
    parts = process_parts(container, cell)
    jobs = process_jobs(container.settings, parts, groups=frozenset(Group))
    handlers: list[BatchHandler] = [
        job.follower.handler
        for job in jobs
        if job.follower is not None and job.name not in (AUDIT_NAME, RELAY_NAME)
    ]
    return handlers + [ProjectionHandler(p) for p in cell.read.projections()]
