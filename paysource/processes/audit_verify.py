"""Checking the audit log against the event table (`paysource audit verify`).

Everything is recomputed from `paysource_events` as stored: each leaf, then the root
at the size of every signed tree head, whose signature is checked too. The event
table is read in pages, so memory stays O(log n) whatever the log's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from paysource.application.audit import StoredEventRow
from paysource.audit_verifier import TreeHead, verify_head
from paysource.processes.audit_log import AuditLogView, Frontier, event_row

PAGE = 5000


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    leaves: int = 0  # leaves recomputed and found equal
    heads: int = 0  # signed heads checked
    unaudited: int = 0  # events the audit-log job has not reached yet

    @property
    def ok(self) -> bool:
        return not self.problems


def stream(
    view: AuditLogView, page: int = PAGE
) -> Iterator[tuple[StoredEventRow, int | None, bytes | None]]:
    """Every stored event in log order, with its stored leaf (index, hash) if any."""
    after = 0
    while True:
        with view.datastore.transaction(commit=False) as curs:
            rows = curs.execute(
                "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic,"
                " e.state, l.leaf_index, l.leaf_hash FROM paysource_events e"
                " LEFT JOIN audit_leaves l ON l.notification_id = e.notification_id"
                " WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s",
                (after, page),
            ).fetchall()
        for row in rows:
            index = row["leaf_index"]
            stored = None if row["leaf_hash"] is None else bytes(row["leaf_hash"])
            yield event_row(row), None if index is None else int(index), stored
        if len(rows) < page:
            return
        after = int(rows[-1]["notification_id"])


def _name(event: StoredEventRow) -> str:
    return (
        f"event at position {event.position} (object {event.originator_id},"
        f" version {event.originator_version})"
    )


def _leaf_problem(
    event: StoredEventRow, index: int | None, stored: bytes | None, expected: int, audited: int
) -> str | None:
    if index is None and event.position <= audited:
        return (
            f"{_name(event)} is not in the tree, but the audit-log job appended every"
            f" event up to position {audited}: its leaf is missing"
        )
    if index is None:
        return f"{_name(event)} is not in the tree, but events after it are"
    if index != expected:
        return f"leaf {expected} has no event: an event before {_name(event)} is missing"
    if stored != event.leaf_hash():
        return f"{_name(event)} does not match its leaf {index}: the stored event changed"
    return None


def verify_log(view: AuditLogView, public_key: bytes) -> Verification:
    """Recompute every leaf and every signed root; the first broken event comes first."""
    found = Verification()
    heads = sorted(view.heads(before=None, limit=2**31), key=lambda h: h.tree_size)
    found.problems += [
        f"tree head of size {h.tree_size}: bad signature or key"
        for h in heads
        if not verify_head(h, public_key)
    ]
    # The job commits leaves, its position and heads together, so reading heads, then
    # the position, then the size, each covers what the one before saw: no genuine
    # head is larger than the tree, and no event up to `audited` lacks its leaf.
    audited = view.position()
    size = view.size()
    found.problems += _beyond_the_tree(heads, size)
    frontier, pending = Frontier(0, []), iter(heads)
    head: TreeHead | None = next(pending, None)
    for event, index, stored in stream(view):
        if frontier.size >= size and index is None and event.position > audited:
            found.unaudited += 1
            continue
        problem = _leaf_problem(event, index, stored, frontier.size, audited)
        if problem is not None:
            found.problems.insert(0, problem)
            return found
        frontier.push(event.leaf_hash())
        found.leaves += 1
        while head is not None and head.tree_size == frontier.size:
            _check_root(found, head, frontier)
            head = next(pending, None)
    if frontier.size < size:
        found.problems.insert(0, f"leaf {frontier.size} has no event: the last events are gone")
    return found


def _beyond_the_tree(heads: list[TreeHead], size: int) -> list[str]:
    """A signed head covers leaves it was signed over: fewer now means leaves were
    deleted (with their events, or to pass the events off as not audited yet)."""
    return [
        f"tree head of size {h.tree_size}: leaves {size} to {h.tree_size - 1} are missing"
        f" (the tree has {size})"
        for h in heads
        if h.tree_size > size
    ]


def _check_root(found: Verification, head: TreeHead, frontier: Frontier) -> None:
    found.heads += 1
    if frontier.root() != head.root_hash:
        found.problems.append(f"tree head of size {head.tree_size}: root differs from the events")


def verify_exported_head(view: AuditLogView, head: TreeHead, public_key: bytes) -> list[str]:
    """Does a head kept from an earlier visit still describe the first events of the log?"""
    if not verify_head(head, public_key):
        return [f"the tree head of size {head.tree_size} is not signed by this log's key"]
    frontier = Frontier(0, [])
    for event, _, _ in stream(view):
        frontier.push(event.leaf_hash())
        if frontier.size == head.tree_size:
            if frontier.root() != head.root_hash:
                return [
                    f"the first {head.tree_size} events no longer hash to the head's root:"
                    " the log was changed since (`paysource audit verify` names the event)"
                ]
            return []
    return [f"the log has {frontier.size} events, fewer than the head's {head.tree_size}"]
