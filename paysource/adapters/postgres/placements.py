"""The directory of cells: which cell holds each merchant (table `merchant_cells`).

New merchants go to the least loaded cell (fewest merchants), or to the one an admin
names. A merchant can be moved (`paysource cells move`), so a lookup is cached for
about a second (`ttl_s`), not for a process's life: within a second of a move being
marked (`moving_to`), every API process refuses the merchant's writes, and within a
second of the switch every process routes it to its new cell.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from paysource.domain.errors import InvalidValue

_COUNTS = "SELECT cell, count(*) FROM merchant_cells GROUP BY cell"
_PLACEMENT = "SELECT cell, moving_to FROM merchant_cells WHERE merchant_id = %s"
# How long a lookup is trusted; `paysource cells move` waits at least this long after
# marking a move before it assumes no process still routes writes to the source.
PLACEMENT_TTL_S = 1.0


@dataclass(frozen=True, slots=True)
class Placement:
    cell: str | None  # None: a merchant from before cells, in the directory cell
    moving_to: str | None = None


class PostgresPlacements:
    def __init__(
        self,
        directory_url: str,
        cells: Sequence[str],
        *,
        ttl_s: float = PLACEMENT_TTL_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = directory_url
        self.cells = list(cells)
        self.ttl_s = ttl_s
        self._now = now
        self._known: dict[UUID, tuple[float, Placement]] = {}
        self._lock = threading.Lock()
        # Lookups repeat every `ttl_s` per merchant: pooled connections, opened on the
        # first lookup (nothing connects at construction).
        self._pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] | None = None

    def place(self, merchant_id: UUID, cell: str | None) -> str:
        if cell is not None and cell not in self.cells:
            raise InvalidValue(f"no cell named {cell!r}; see `paysource cells list`", field="cell")
        with psycopg.connect(self._url, autocommit=True) as conn, conn.transaction():
            # One placement at a time, so two new merchants do not both pick the emptiest.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('merchant-placement'))")
            chosen = cell or self._least_loaded(conn)
            conn.execute(
                "INSERT INTO merchant_cells (merchant_id, cell) VALUES (%s, %s)"
                " ON CONFLICT (merchant_id) DO NOTHING",
                (merchant_id, chosen),
            )
            row = conn.execute(_PLACEMENT, (merchant_id,)).fetchone()
        assert row is not None
        self._remember(merchant_id, Placement(str(row[0])))
        return str(row[0])

    def _least_loaded(self, conn: psycopg.Connection[tuple[object, ...]]) -> str:
        counts = dict.fromkeys(self.cells, 0)
        for name, count in conn.execute(_COUNTS).fetchall():
            if name in counts:
                counts[str(name)] = int(str(count))
        return min(self.cells, key=lambda name: (counts[name], self.cells.index(name)))

    def cell_of(self, merchant_id: UUID) -> str | None:
        return self.placement(merchant_id).cell

    def cached(self, merchant_id: UUID) -> Placement | None:
        """The placement if looked up less than `ttl_s` ago (no I/O), else None."""
        with self._lock:
            cached = self._known.get(merchant_id)
        if cached is not None and self._now() - cached[0] < self.ttl_s:
            return cached[1]
        return None

    def placement(self, merchant_id: UUID) -> Placement:
        """Where the merchant is and whether it is being moved (cached `ttl_s`)."""
        cached = self.cached(merchant_id)
        if cached is not None:
            return cached
        with self._lookups().connection() as conn:
            row = conn.execute(_PLACEMENT, (merchant_id,)).fetchone()
        # A merchant is placed before it (and its keys) are saved, so no request of it
        # can come before its row: a miss is a merchant from before cells.
        found = (
            Placement(str(row[0]), None if row[1] is None else str(row[1]))
            if row
            else Placement(None)
        )
        self._remember(merchant_id, found)
        return found

    def _lookups(self) -> ConnectionPool[psycopg.Connection[tuple[object, ...]]]:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=4,
                    kwargs={"autocommit": True},
                    open=True,
                    name="placements",
                    timeout=3.0,  # a down directory: the API answers 503 (its gate)
                )
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def forget(self, merchant_id: UUID) -> None:
        """Drop the cached placement: the next lookup reads the directory."""
        with self._lock:
            self._known.pop(merchant_id, None)

    def _remember(self, merchant_id: UUID, placement: Placement) -> None:
        with self._lock:
            self._known[merchant_id] = (self._now(), placement)

    def counts(self) -> dict[str, int]:
        """Merchants per cell (`paysource cells list`)."""
        with psycopg.connect(self._url, autocommit=True) as conn:
            rows = conn.execute(_COUNTS).fetchall()
        found = dict.fromkeys(self.cells, 0)
        found.update({str(name): int(str(count)) for name, count in rows})
        return found

    # Moving a merchant (paysource.entrypoints.cell_move) --------------------------

    def mark_moving(self, merchant_id: UUID, source: str, target: str) -> None:
        """Mark the move, or refuse: another move of it under way, or it moved already."""
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO merchant_cells (merchant_id, cell) VALUES (%s, %s)"
                " ON CONFLICT (merchant_id) DO NOTHING",
                (merchant_id, source),  # a merchant from before cells gets its row now
            )
            marked = conn.execute(
                "UPDATE merchant_cells SET moving_to = %s, moving_since = now()"
                " WHERE merchant_id = %s AND cell = %s AND moving_to IS NULL",
                (target, merchant_id, source),
            ).rowcount
        if marked != 1:
            raise InvalidValue("the merchant is being moved already, or is not in " + source)

    def clear_moving(self, merchant_id: UUID) -> None:
        """Abort: the merchant stays where it is and takes writes again."""
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(
                "UPDATE merchant_cells SET moving_to = NULL, moving_since = NULL"
                " WHERE merchant_id = %s",
                (merchant_id,),
            )

    def switch(self, merchant_id: UUID, target: str) -> None:
        """The move is done: the merchant is in `target` from now on."""
        with psycopg.connect(self._url, autocommit=True) as conn:
            switched = conn.execute(
                "UPDATE merchant_cells SET cell = moving_to, moving_to = NULL,"
                " moving_since = NULL, placed_at = now()"
                " WHERE merchant_id = %s AND moving_to = %s",
                (merchant_id, target),
            ).rowcount
        assert switched == 1, "the move's mark is ours until we clear or switch it"
