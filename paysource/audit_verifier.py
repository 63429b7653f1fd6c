"""Verify paysource's tamper-evident log without the service: proofs and tree heads.

Needs only the standard library and `cryptography`, and imports nothing else of
paysource, so an auditor may copy this one file. The tree is RFC 9162's (certificate
transparency, section 2.1): one leaf per stored event, in log order.

    leaf input  = u64(position) || originator id (16 bytes) || u64(version)
                  || u32(len topic) || topic (UTF-8) || u32(len state) || state
    leaf hash   = SHA-256(0x00 || leaf input)
    node hash   = SHA-256(0x01 || left || right)
    root        = RFC 9162's MTH over the leaf hashes (any size, not only powers of two)

Integers are unsigned big-endian; `state` is the stored event's bytes exactly as in
`paysource_events` (so for personal data, the ciphertext). A signed tree head signs

    b"paysource-tree-head-v1\\n" || u32(len log id) || log id || u64(tree size)
                               || u64(timestamp ms) || root (32 bytes)

with Ed25519; its `key_id` is the SHA-256 of the raw 32-byte public key, in hex.

From a shell (files are the JSON the API answers with):

    python -m paysource.audit_verifier head HEAD.json --public-key HEX
    python -m paysource.audit_verifier inclusion PROOF.json --public-key HEX
    python -m paysource.audit_verifier consistency PROOF.json --public-key HEX --kept KEPT.json

Each prints `ok` and exits 0, or prints why not and exits 1. `--kept` is the head you
kept from your last visit: the proof is checked against your copy of it, not against
whatever the service answers as `first`. Without it, a consistency proof shows only
that two heads the service still has agree, and a service whose database was rewritten
(by someone without the signing key) can drop the heads the rewrite breaks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEAD_CONTEXT = b"paysource-tree-head-v1\n"
HASH_SIZE = 32


def leaf_input(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The canonical bytes of one stored event (see the module's docstring)."""
    encoded_topic = topic.encode("utf-8")
    return b"".join(
        (
            struct.pack(">Q", position),
            originator_id.bytes,
            struct.pack(">Q", version),
            struct.pack(">I", len(encoded_topic)),
            encoded_topic,
            struct.pack(">I", len(state)),
            state,
        )
    )


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two smaller than `size` (> 1): where RFC 9162 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (the empty tree's root is the hash of nothing)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


# Proofs ---------------------------------------------------------------------------


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: is `leaf` the `index`th of the tree of `size` with `root`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of `first` leaves a prefix of `second`'s?"""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


# Making proofs (the service uses these over its cached subtree hashes) -------------

Subtree = Callable[[int, int], bytes]  # MTH of leaves [start, end)


def inclusion_path(index: int, start: int, end: int, subtree: Subtree) -> list[bytes]:
    """RFC 9162 PATH(index, D[start:end]), leaf to root."""
    size = end - start
    if size <= 1:
        return []
    k = split_point(size)
    if index < k:
        return [*inclusion_path(index, start, start + k, subtree), subtree(start + k, end)]
    return [*inclusion_path(index - k, start + k, end, subtree), subtree(start, start + k)]


def consistency_path(
    first: int, start: int, end: int, subtree: Subtree, whole: bool = True
) -> list[bytes]:
    """RFC 9162 SUBPROOF(first, D[start:end], whole); PROOF is `whole=True`."""
    size = end - start
    if first == size:
        return [] if whole else [subtree(start, end)]
    k = split_point(size)
    if first <= k:
        return [*consistency_path(first, start, start + k, subtree, whole), subtree(start + k, end)]
    return [
        *consistency_path(first - k, start + k, end, subtree, False),
        subtree(start, start + k),
    ]


# Signed tree heads ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeHead:
    log_id: str
    tree_size: int
    timestamp_ms: int
    root_hash: bytes
    key_id: str
    signature: bytes

    def signed_bytes(self) -> bytes:
        return signed_message(self.log_id, self.tree_size, self.timestamp_ms, self.root_hash)

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "tree_head",
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "timestamp_ms": self.timestamp_ms,
            "root_hash": self.root_hash.hex(),
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeHead:
        """Raises ValueError (KeyError, TypeError included) on a malformed head."""
        try:
            return cls(
                log_id=str(data["log_id"]),
                tree_size=int(data["tree_size"]),
                timestamp_ms=int(data["timestamp_ms"]),
                root_hash=bytes.fromhex(data["root_hash"]),
                key_id=str(data["key_id"]),
                signature=bytes.fromhex(data["signature"]),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a tree head: {error!r}") from None


def signed_message(log_id: str, tree_size: int, timestamp_ms: int, root: bytes) -> bytes:
    encoded = log_id.encode("utf-8")
    return b"".join(
        (
            HEAD_CONTEXT,
            struct.pack(">I", len(encoded)),
            encoded,
            struct.pack(">QQ", tree_size, timestamp_ms),
            root,
        )
    )


def key_id_of(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()


def verify_head(head: TreeHead, public_key: bytes) -> bool:
    """Was `head` signed by the holder of `public_key` (raw 32 bytes)?"""
    if head.key_id != key_id_of(public_key) or len(head.root_hash) != HASH_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(head.signature, head.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


# The command line -----------------------------------------------------------------


def _hashes(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


def check_inclusion_document(doc: dict[str, Any], public_key: bytes) -> str | None:
    """Why an inclusion proof as the API answers it does not hold (None: it holds)."""
    head = TreeHead.from_json(doc["tree_head"])
    if not verify_head(head, public_key):
        return "the tree head's signature does not verify with this key"
    event = doc["event"]
    data = leaf_input(
        int(event["position"]),
        UUID(event["originator_id"]),
        int(event["originator_version"]),
        str(event["topic"]),
        bytes.fromhex(event["state"]),
    )
    if leaf_hash(data) != bytes.fromhex(doc["leaf_hash"]):
        return "the event's bytes do not hash to the proof's leaf"
    index, path = int(doc["leaf_index"]), _hashes(doc["audit_path"])
    if not verify_inclusion(index, head.tree_size, leaf_hash(data), path, head.root_hash):
        return "the audit path does not lead to the signed root"
    return None


def check_consistency_document(
    doc: dict[str, Any], public_key: bytes, kept: TreeHead | None = None
) -> str | None:
    """Why a consistency proof as the API answers it does not hold (None: it holds).
    With `kept`, the proof must start from that head, the auditor's own copy."""
    second = TreeHead.from_json(doc["second"])
    first = kept or _first_head(doc)
    if first is None:
        return "the service has no signed head of the first size: pass the one you kept"
    if not (verify_head(first, public_key) and verify_head(second, public_key)):
        return "a tree head's signature does not verify with this key"
    why = _against_kept(doc, kept, second) if kept is not None else None
    if why is not None:
        return why
    proof = _hashes(doc["proof"])
    if not verify_consistency(
        first.tree_size, second.tree_size, first.root_hash, second.root_hash, proof
    ):
        return "the later tree does not extend the earlier one"
    return None


def _first_head(doc: dict[str, Any]) -> TreeHead | None:
    return None if doc.get("first") is None else TreeHead.from_json(doc["first"])


def _against_kept(doc: dict[str, Any], kept: TreeHead, second: TreeHead) -> str | None:
    """Is the proof about the kept head's log and size, and did the service sign the
    same head? Two signed heads of one size with different roots: the key signed a
    rewritten log, or a split view."""
    if kept.log_id != second.log_id:
        return f"the proof is of log {second.log_id}, the kept head of {kept.log_id}"
    served = _first_head(doc)
    if served is not None and served.tree_size != kept.tree_size:
        return f"the proof starts from size {served.tree_size}, not the kept head's"
    if served is not None and served.root_hash != kept.root_hash:
        return "the service's head of the kept head's size is not the one you kept"
    if second.tree_size < kept.tree_size:
        return "the log is smaller than the head you kept: it lost events"
    return None


def _check(kind: str, doc: dict[str, Any], public_key: bytes, kept: TreeHead | None) -> str | None:
    if kind == "head":
        ok = verify_head(TreeHead.from_json(doc), public_key)
        return None if ok else "the signature does not verify with this key"
    if kind == "inclusion":
        return check_inclusion_document(doc, public_key)
    return check_consistency_document(doc, public_key, kept)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paysource.audit_verifier")
    parser.add_argument("kind", choices=("head", "inclusion", "consistency"))
    parser.add_argument("file", type=Path, help="the JSON the API answered with")
    parser.add_argument("--public-key", required=True, help="hex, from /v1/audit/public_key")
    parser.add_argument(
        "--kept", type=Path, help="consistency: the head you kept from your last visit (JSON)"
    )
    args = parser.parse_args(argv)
    if args.kept is not None and args.kind != "consistency":
        parser.error("--kept goes with consistency")
    try:
        doc = json.loads(args.file.read_text(encoding="utf-8"))
        kept = _read_kept(args.kept)
        why = _check(args.kind, doc, bytes.fromhex(args.public_key), kept)
    except (OSError, ValueError, KeyError, TypeError) as error:
        why = f"cannot read {args.file}: {error}"
    print(why or "ok")
    return 1 if why else 0


def _read_kept(path: Path | None) -> TreeHead | None:
    if path is None:
        return None
    return TreeHead.from_json(json.loads(path.read_text(encoding="utf-8")))


if __name__ == "__main__":
    sys.exit(main())
