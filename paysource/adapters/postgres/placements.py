"""The directory of cells: which cell holds each merchant (table `merchant_cells`).

New merchants go to the least loaded cell (fewest merchants), or to the one an admin
names. Merchants do not move on their own, so lookups are cached in the process for
good: the admin command that would move one must restart the API processes (moving
merchants between cells is not built yet; docs/operations.md says what it would take).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from uuid import UUID

import psycopg

from paysource.domain.errors import InvalidValue

_COUNTS = "SELECT cell, count(*) FROM merchant_cells GROUP BY cell"


class PostgresPlacements:
    def __init__(self, directory_url: str, cells: Sequence[str]) -> None:
        self._url = directory_url
        self.cells = list(cells)
        self._known: dict[UUID, str | None] = {}
        self._lock = threading.Lock()

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
            row = conn.execute(
                "SELECT cell FROM merchant_cells WHERE merchant_id = %s", (merchant_id,)
            ).fetchone()
        assert row is not None
        placed = str(row[0])
        with self._lock:
            self._known[merchant_id] = placed
        return placed

    def _least_loaded(self, conn: psycopg.Connection[tuple[object, ...]]) -> str:
        counts = dict.fromkeys(self.cells, 0)
        for name, count in conn.execute(_COUNTS).fetchall():
            if name in counts:
                counts[str(name)] = int(str(count))
        return min(self.cells, key=lambda name: (counts[name], self.cells.index(name)))

    def cell_of(self, merchant_id: UUID) -> str | None:
        with self._lock:
            if merchant_id in self._known:
                return self._known[merchant_id]
        with psycopg.connect(self._url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT cell FROM merchant_cells WHERE merchant_id = %s", (merchant_id,)
            ).fetchone()
        found = str(row[0]) if row else None
        # A merchant is placed before it (and its keys) are saved, so no request of it
        # can come before its row: a miss is a merchant from before cells, for good.
        with self._lock:
            self._known[merchant_id] = found
        return found

    def counts(self) -> dict[str, int]:
        """Merchants per cell (`paysource cells list`)."""
        with psycopg.connect(self._url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT cell, count(*) FROM merchant_cells GROUP BY cell"
            ).fetchall()
        found = dict.fromkeys(self.cells, 0)
        found.update({str(name): int(str(count)) for name, count in rows})
        return found
