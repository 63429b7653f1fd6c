"""The audit log: every stored event becomes a leaf of the cell's Merkle tree, in log
order, and a signed tree head is written on a schedule (docs/audit.md).

Leaves hash the rows of `paysource_events` as stored, so this process reads the rows
itself instead of decoded events (re-encoding an event need not give the same bytes).
Leaves, the complete subtrees they close and the tracking position commit in one
transaction with compare-and-set (`View.batch`): a leaf is appended exactly once.

The job signs only a tree that extends the last head it signed. Leaves and nodes are
in the database, and whoever can write it could recompute them over an edited event;
so the job checks what it loads against that head, and refuses to sign (the batch
fails, and keeps failing) rather than sign a rewritten history (docs/audit.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.persistence import Tracking

from paysource.application.audit import (
    Key,
    Signer,
    StoredEventRow,
    aligned_parts,
    fold,
    with_nodes,
)
from paysource.application.eventlog import ConcurrencyConflict, Event, EventStore, Follower
from paysource.application.ports import Clock
from paysource.audit_verifier import (
    TreeHead,
    consistency_path,
    node_hash,
    verify_consistency,
    verify_head,
)
from paysource.readmodels.view import View

AUDIT_NAME = "audit-log"
EVENT_COLUMNS = "notification_id, originator_id, originator_version, topic, state"
HEAD_COLUMNS = "log_id, tree_size, timestamp_ms, root_hash, key_id, signature"


def event_row(row: Any) -> StoredEventRow:
    return StoredEventRow(
        int(row["notification_id"]),
        UUID(str(row["originator_id"])),
        int(row["originator_version"]),
        str(row["topic"]),
        bytes(row["state"]),
    )


def head_row(row: Any) -> TreeHead:
    return TreeHead(
        row["log_id"],
        int(row["tree_size"]),
        int(row["timestamp_ms"]),
        bytes(row["root_hash"]),
        row["key_id"],
        bytes(row["signature"]),
    )


class AuditLogView(View):
    """The audit tables: written inside `batch()`, read (the `AuditTree` port) outside."""

    name: ClassVar[str] = AUDIT_NAME
    tables = ("audit_leaves", "audit_nodes", "audit_tree_heads", "audit_last_head")

    # Inside a batch -------------------------------------------------------------------

    def events(self, after: int, through: int) -> list[StoredEventRow]:
        rows = self.cursor.execute(
            f"SELECT {EVENT_COLUMNS} FROM paysource_events"  # noqa: S608
            " WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id",
            (after, through),
        ).fetchall()
        return [event_row(row) for row in rows]

    def append(self, leaves: list[tuple[int, int, bytes]], nodes: list[tuple[Key, bytes]]) -> None:
        with self.cursor.copy(
            "COPY audit_leaves (leaf_index, notification_id, leaf_hash) FROM STDIN"
        ) as copy:
            for leaf in leaves:
                copy.write_row(leaf)
        with self.cursor.copy("COPY audit_nodes (level, idx, hash) FROM STDIN") as copy:
            for (level, idx), digest in nodes:
                copy.write_row((level, idx, digest))

    def add_head(self, head: TreeHead) -> None:
        """Store a signed head, and record it as the log's last (see `AuditLog._anchor`)."""
        values = (
            head.log_id,
            head.tree_size,
            head.timestamp_ms,
            head.root_hash,
            head.key_id,
            head.signature,
        )
        self.execute(
            f"INSERT INTO audit_tree_heads ({HEAD_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608
            values,
        )
        self.execute(
            f"INSERT INTO audit_last_head ({HEAD_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"  # noqa: S608
            " ON CONFLICT (log_id) DO UPDATE SET tree_size = EXCLUDED.tree_size,"
            " timestamp_ms = EXCLUDED.timestamp_ms, root_hash = EXCLUDED.root_hash,"
            " key_id = EXCLUDED.key_id, signature = EXCLUDED.signature",
            values,
        )

    def nodes_in_batch(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        """As `nodes`, including what this batch wrote and has not committed yet."""
        return self._nodes(
            lambda query, params: self.cursor.execute(query, params).fetchall(), keys
        )

    # Reads: the AuditTree port ---------------------------------------------------------

    def _all(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as curs:
            return curs.execute(query, params).fetchall()

    def size(self) -> int:
        rows = self._all("SELECT coalesce(max(leaf_index) + 1, 0) AS size FROM audit_leaves")
        return int(rows[0]["size"])

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        return self._nodes(self._all, keys)

    def _nodes(
        self, run: Callable[[str, Sequence[Any]], list[Any]], keys: Iterable[Key]
    ) -> dict[Key, bytes]:
        wanted = list(keys)
        leaves = [idx for level, idx in wanted if level == 0]
        inner = [(level, idx) for level, idx in wanted if level > 0]
        found: dict[Key, bytes] = {}
        for row in run(
            "SELECT leaf_index, leaf_hash FROM audit_leaves WHERE leaf_index = ANY(%s)", (leaves,)
        ):
            found[(0, int(row["leaf_index"]))] = bytes(row["leaf_hash"])
        for row in run(
            "SELECT level, idx, hash FROM audit_nodes"
            " WHERE (level, idx) IN (SELECT * FROM unnest(%s::smallint[], %s::bigint[]))",
            ([level for level, _ in inner], [idx for _, idx in inner]),
        ):
            found[(int(row["level"]), int(row["idx"]))] = bytes(row["hash"])
        return found

    def leaves_from(self, start: int) -> list[tuple[int, bytes, StoredEventRow | None]]:
        """The stored leaves from index `start` on, each with its event as stored now."""
        rows = self._all(
            "SELECT l.leaf_index, l.leaf_hash, e.notification_id, e.originator_id,"
            " e.originator_version, e.topic, e.state FROM audit_leaves l"
            " LEFT JOIN paysource_events e ON e.notification_id = l.notification_id"
            " WHERE l.leaf_index >= %s ORDER BY l.leaf_index",
            (start,),
        )
        return [
            (
                int(row["leaf_index"]),
                bytes(row["leaf_hash"]),
                None if row["notification_id"] is None else event_row(row),
            )
            for row in rows
        ]

    def last_head(self, log_id: str) -> TreeHead | None:
        """The head recorded as the log's last when it was signed."""
        rows = self._all(
            f"SELECT {HEAD_COLUMNS} FROM audit_last_head WHERE log_id = %s",  # noqa: S608
            (log_id,),
        )
        return head_row(rows[0]) if rows else None

    def leaf_index(self, position: int) -> int | None:
        rows = self._all(
            "SELECT leaf_index FROM audit_leaves WHERE notification_id = %s", (position,)
        )
        return int(rows[0]["leaf_index"]) if rows else None

    def event(self, position: int) -> StoredEventRow | None:
        rows = self._all(
            f"SELECT {EVENT_COLUMNS} FROM paysource_events WHERE notification_id = %s",  # noqa: S608
            (position,),
        )
        return event_row(rows[0]) if rows else None

    def head(self, tree_size: int | None) -> TreeHead | None:
        if tree_size is None:
            found = self.heads(before=None, limit=1)
            return found[0] if found else None
        rows = self._all(
            f"SELECT {HEAD_COLUMNS} FROM audit_tree_heads WHERE tree_size = %s",  # noqa: S608
            (tree_size,),
        )
        return head_row(rows[0]) if rows else None

    def heads(self, *, before: int | None, limit: int) -> list[TreeHead]:
        rows = self._all(
            f"SELECT {HEAD_COLUMNS} FROM audit_tree_heads"  # noqa: S608
            " WHERE tree_size < %s ORDER BY tree_size DESC LIMIT %s",
            (before if before is not None else 2**63 - 1, limit),
        )
        return [head_row(row) for row in rows]


class Frontier:
    """The right edge of the tree: its complete subtrees, largest first. Appending a
    leaf merges equal neighbours, which closes (and returns) new stored nodes."""

    def __init__(self, size: int, edge: list[tuple[Key, bytes]]) -> None:
        self.size = size
        self.edge = edge

    def push(self, digest: bytes) -> list[tuple[Key, bytes]]:
        closed: list[tuple[Key, bytes]] = []
        key, value = (0, self.size), digest
        while self.edge and self.edge[-1][0][0] == key[0]:
            (level, idx), left = self.edge.pop()
            key, value = (level + 1, idx >> 1), node_hash(left, value)
            closed.append((key, value))
        self.edge.append((key, value))
        self.size += 1
        return closed

    def root(self) -> bytes:
        return fold([digest for _, digest in self.edge])


class HistoryRewritten(RuntimeError):
    """The stored tree does not extend the last head this log signed: the job signs
    nothing until an operator finds out why (docs/audit.md)."""


class AuditLog:
    """A `BatchHandler`: appends the leaves of the events up to a batch's position."""

    topics: Sequence[str] = ()

    def __init__(
        self, view: AuditLogView, signer: Signer, clock: Clock, *, log_id: str, head_every_s: float
    ) -> None:
        self.view = view
        self.signer = signer
        self.clock = clock
        self.log_id = log_id
        self.head_every_s = head_every_s
        self.name = view.name
        self._committed: int | None = None
        self._frontier: Frontier | None = None
        # The last head known signed with our key. Kept across failed batches: while the
        # process lives, deleting heads (and their record) cannot make it forget one.
        self._signed: TreeHead | None = None
        self._signing: TreeHead | None = None  # signed in the open batch: not yet stored

    def position(self) -> int:
        self._committed = self.view.position()
        return self._committed

    def handle_batch(self, events: Sequence[Event], tracking: Tracking) -> None:
        """`events` go unused: leaves hash the stored rows, read as stored."""
        del events
        expected = self.position() if self._committed is None else self._committed
        self._signing = None
        try:
            with self.view.batch(tracking, expected=expected):
                self._append(expected, tracking.notification_id)
        except Exception:
            self._committed, self._frontier = None, None
            raise
        self._committed = tracking.notification_id
        self._signed = self._signing or self._signed

    def _append(self, after: int, through: int) -> None:
        frontier = self._frontier or self._load()
        rows = self.view.events(after, through) if through > after else []
        leaves, nodes = [], []
        for row in rows:
            digest = row.leaf_hash()
            leaves.append((frontier.size, row.position, digest))
            nodes += frontier.push(digest)
        if leaves:
            self.view.append(leaves, nodes)
        self._frontier = frontier
        if self.head_due():
            self._sign(frontier)

    def _load(self) -> Frontier:
        """The stored tree, checked: its first leaves give the last signed head's root,
        and the leaves after them are their events' as stored now."""
        signed = self._signed = self._anchor()
        size = self.view.size()
        if signed is not None and size < signed.tree_size:
            raise HistoryRewritten(
                f"the tree has {size} leaves, fewer than the signed head of size"
                f" {signed.tree_size}: leaves were deleted"
            )
        frontier = self._prefix(signed)
        self._replay(frontier)
        return frontier

    def _anchor(self) -> TreeHead | None:
        """The largest head we know we signed: the one in memory, the log's record of
        its last, or the latest stored. Each must verify with our key, and the largest
        must still be stored: else heads were deleted, and an older one would let an
        edit above it pass."""
        known = [self._signed, self.view.last_head(self.log_id), self.view.head(None)]
        found = [head for head in known if head is not None]
        for head in found:
            if not verify_head(head, self.signer.public_key):
                raise HistoryRewritten(
                    f"the signed head of size {head.tree_size} does not verify with this log's key"
                )
        if not found:
            return None
        anchor = max(found, key=lambda head: head.tree_size)
        if self.view.head(anchor.tree_size) != anchor:
            raise HistoryRewritten(
                f"the signed head of size {anchor.tree_size} is no longer stored:"
                " heads were deleted"
            )
        return anchor

    def _prefix(self, signed: TreeHead | None) -> Frontier:
        """The right edge of the signed tree, from stored nodes that must give its root."""
        if signed is None:
            return Frontier(0, [])
        keys = aligned_parts(0, signed.tree_size)
        found = self.view.nodes(keys)
        frontier = Frontier(signed.tree_size, [(key, found.get(key, b"")) for key in keys])
        if frontier.root() != signed.root_hash:
            raise HistoryRewritten(
                f"the stored tree no longer gives the root of the signed head of size"
                f" {signed.tree_size}: leaves or nodes were changed"
            )
        return frontier

    def _replay(self, frontier: Frontier) -> None:
        """Append to `frontier` the leaves stored after it, recomputed from their events
        (no head covers them yet: a head interval's worth), and check them and the nodes
        they close against what is stored."""
        signed, closed = frontier.size, []
        for index, stored, event in self.view.leaves_from(signed):
            if index != frontier.size or event is None or event.leaf_hash() != stored:
                raise HistoryRewritten(
                    f"leaf {frontier.size}, after the signed head of size {signed}, no longer"
                    " matches its event: leaves or events were changed"
                )
            closed += frontier.push(stored)
        found = self.view.nodes([key for key, _ in closed])
        if any(found.get(key) != digest for key, digest in closed):
            raise HistoryRewritten(
                f"nodes after the signed head of size {signed} do not match their leaves"
            )

    def head_due(self) -> bool:
        """Leaves no head covers yet, and the last head is old enough."""
        frontier = self._frontier
        if frontier is None:
            return True  # not loaded yet: a batch finds out
        if frontier.size == 0:
            return False
        last = self._signed
        if last is None:
            return True
        return (
            frontier.size > last.tree_size
            and self._now_ms() - last.timestamp_ms >= self.head_every_s * 1000
        )

    def _sign(self, frontier: Frontier) -> None:
        self._check_extends(frontier)
        head = self.signer.sign(self.log_id, frontier.size, self._now_ms(), frontier.root())
        self.view.add_head(head)
        self._signing = head

    def _check_extends(self, frontier: Frontier) -> None:
        """The RFC 9162 consistency proof, from the stored nodes (this batch's included),
        that the tree about to be signed extends the last signed head."""
        last = self._signed
        if last is None:
            return
        batch = _InBatch(self.view)
        proof = with_nodes(
            batch, lambda sub: consistency_path(last.tree_size, 0, frontier.size, sub)
        )
        if not verify_consistency(
            last.tree_size, frontier.size, last.root_hash, frontier.root(), proof
        ):
            raise HistoryRewritten(
                f"the tree of {frontier.size} leaves does not extend the signed head of size"
                f" {last.tree_size}: leaves or nodes were changed"
            )

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)


class _InBatch:
    """The stored nodes as the open batch sees them (`with_nodes` reads them so)."""

    def __init__(self, view: AuditLogView) -> None:
        self.view = view

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        return self.view.nodes_in_batch(keys)


class AuditFollower(Follower):
    """Follows the log by position alone: the audit log reads the rows itself, so
    decoding them here (what `Follower.step` does) would be wasted work."""

    def __init__(self, store: EventStore, audit: AuditLog, **options: Any) -> None:
        super().__init__(store, audit, **options)
        self.audit = audit

    def step(self, scanned_to: int) -> tuple[int, bool]:
        head = self.store.head()
        through = min(head, scanned_to + self.batch_size)
        if through <= scanned_to and not self.audit.head_due():
            return scanned_to, False
        try:
            self.audit.handle_batch((), Tracking(self.audit.name, max(through, scanned_to)))
        except ConcurrencyConflict:
            return self.audit.position(), True
        return max(through, scanned_to), through > scanned_to


def run_audit_until_caught_up(follower: AuditFollower, *, timeout_s: float = 30.0) -> None:
    """Append every stored event, then sign a head if due (tests, CLI tools)."""
    deadline = time.monotonic() + timeout_s
    scanned_to = follower.audit.position()
    while time.monotonic() < deadline:
        scanned_to, worked = follower.step(scanned_to)
        if not worked and scanned_to >= follower.store.head():
            return
    raise TimeoutError(f"{AUDIT_NAME} did not catch up in {timeout_s}s")
