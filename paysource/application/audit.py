"""The tamper-evident log, as auditors ask it: the public key, signed heads, proofs.

The tree itself (RFC 9162) and its checks are in `paysource.audit_verifier`, the file
auditors run on their own; this module only serves proofs made from the hashes the
`audit-log` process stores, and signs heads with the cell's Ed25519 key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from paysource import audit_verifier as tree
from paysource.application.errors import NotFound
from paysource.audit_verifier import TreeHead
from paysource.domain.errors import InvalidValue

# Signs development logs only: its seed is public (config refuses it in production).
DEVELOPMENT_AUDIT_SEED = hashlib.sha256(b"paysource-audit-development-only").hexdigest()

Key = tuple[int, int]  # (level, index): the complete subtree of leaves [i * 2^l, (i+1) * 2^l)


def parse_seed(text: str) -> bytes:
    """A 32-byte Ed25519 seed written as 64 hex digits or in base64."""
    text = text.strip()
    try:
        seed = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        seed = b""
    if len(seed) != 32:
        raise ValueError("an audit signing key is a 32-byte seed: 64 hex digits, or base64")
    return seed


class Signer:
    """Signs tree heads with one Ed25519 key."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = tree.key_id_of(self.public_key)

    def sign(self, log_id: str, tree_size: int, timestamp_ms: int, root: bytes) -> TreeHead:
        message = tree.signed_message(log_id, tree_size, timestamp_ms, root)
        return TreeHead(log_id, tree_size, timestamp_ms, root, self.key_id, self._key.sign(message))


@dataclass(frozen=True, slots=True)
class StoredEventRow:
    """One row of the event table, as stored (the bytes a leaf hashes)."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes

    def leaf_hash(self) -> bytes:
        return tree.leaf_hash(
            tree.leaf_input(
                self.position, self.originator_id, self.originator_version, self.topic, self.state
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "originator_id": str(self.originator_id),
            "originator_version": self.originator_version,
            "topic": self.topic,
            "state": self.state.hex(),
        }


class StoredNodes(Protocol):
    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]: ...


class AuditTree(StoredNodes, Protocol):
    """What the audit-log process stored of one cell's tree (a port)."""

    def size(self) -> int: ...

    def leaf_index(self, position: int) -> int | None: ...

    def event(self, position: int) -> StoredEventRow | None: ...

    def head(self, tree_size: int | None) -> TreeHead | None:
        """The signed head of `tree_size` leaves (None: the latest)."""
        ...

    def heads(self, *, before: int | None, limit: int) -> list[TreeHead]:
        """Signed heads, largest first, smaller than `before` (None: all)."""
        ...


def aligned_parts(start: int, end: int) -> list[Key]:
    """The complete subtrees whose MTHs fold into MTH(D[start:end]), left to right."""
    parts: list[Key] = []
    while end - start > 0:
        size = end - start
        k = size if size & (size - 1) == 0 else tree.split_point(size)
        level = k.bit_length() - 1
        parts.append((level, start >> level))
        start += k
    return parts


def fold(parts: list[bytes]) -> bytes:
    """MTH of consecutive subtrees of decreasing size (RFC 9162 splits from the left)."""
    root = parts[-1]
    for part in reversed(parts[:-1]):
        root = tree.node_hash(part, root)
    return root


def with_nodes(store: StoredNodes, make: Callable[[tree.Subtree], list[bytes]]) -> list[bytes]:
    """Run `make(subtree)` twice: once to learn which stored nodes it needs, then with
    them fetched in one query (a proof needs O(log n) of them)."""
    wanted: set[Key] = set()

    def note(start: int, end: int) -> bytes:
        wanted.update(aligned_parts(start, end))
        return b""

    make(note)
    found = store.nodes(wanted)

    def subtree(start: int, end: int) -> bytes:
        return fold([found[key] for key in aligned_parts(start, end)])

    return make(subtree)


class AuditService:
    def __init__(self, store: AuditTree, signer: Signer) -> None:
        self.store = store
        self.signer = signer

    def public_key(self) -> dict[str, Any]:
        return {
            "object": "audit_public_key",
            "algorithm": "Ed25519",
            "public_key": self.signer.public_key.hex(),
            "key_id": self.signer.key_id,
        }

    def signed_head(self, tree_size: int | None, *, field: str = "tree_size") -> TreeHead:
        head = self.store.head(tree_size)
        if head is None:
            what = "no tree head is signed yet" if tree_size is None else "no signed head"
            raise InvalidValue(f"{what} of that size; see /v1/audit/tree_heads", field=field)
        return head

    def tree_heads(self, *, before: int | None, limit: int) -> tuple[list[TreeHead], bool]:
        """Signed heads, largest first, smaller than `before`; and whether more follow."""
        heads = self.store.heads(before=before, limit=limit + 1)
        return heads[:limit], len(heads) > limit

    def inclusion(self, position: int, tree_size: int | None) -> dict[str, Any]:
        head = self.signed_head(tree_size)
        index = self.store.leaf_index(position)
        event = self.store.event(position)
        if index is None or event is None or index >= head.tree_size:
            raise NotFound(f"event {position} is not in the tree of {head.tree_size} leaves")
        path = with_nodes(
            self.store, lambda sub: tree.inclusion_path(index, 0, head.tree_size, sub)
        )
        return {
            "object": "inclusion_proof",
            "leaf_index": index,
            "leaf_hash": event.leaf_hash().hex(),
            "event": event.to_json(),
            "audit_path": [node.hex() for node in path],
            "tree_head": head.to_json(),
        }

    def consistency(self, first: int, second: int | None) -> dict[str, Any]:
        """The proof that the tree of `second` extends the tree of `first` leaves. `first`
        need not have a signed head here: the auditor checks the proof against the head
        they kept, which is the point if the service no longer has it (`first` is null)."""
        new = self.signed_head(second, field="second")
        if first > new.tree_size:
            raise InvalidValue("`first` must not be larger than `second`", field="first")
        old = self.store.head(first)
        proof = (
            with_nodes(self.store, lambda sub: tree.consistency_path(first, 0, new.tree_size, sub))
            if first < new.tree_size
            else []
        )
        return {
            "object": "consistency_proof",
            "first": None if old is None else old.to_json(),
            "second": new.to_json(),
            "proof": [node.hex() for node in proof],
        }
