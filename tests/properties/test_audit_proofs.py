"""The audit log's proofs, for random tree sizes, against RFC 9162 written out plainly.

The service makes proofs from stored subtree hashes (`application.audit.with_nodes`);
the reference below makes them from the whole list of leaves, as the RFC's
definitions read. Both must agree, and the standalone verifier must accept them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.application.audit import Key, with_nodes
from paysource.audit_verifier import (
    consistency_path,
    inclusion_path,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from paysource.processes.audit_log import Frontier

# The reference: RFC 9162 section 2.1, over lists ------------------------------------


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# The service's side: a tree grown leaf by leaf, its nodes kept as the process keeps them


class StoredTree:
    def __init__(self, leaves: list[bytes]) -> None:
        self.stored: dict[Key, bytes] = {}
        self.frontier = Frontier(0, [])
        for index, leaf in enumerate(leaves):
            self.stored[(0, index)] = leaf
            self.stored.update(self.frontier.push(leaf))

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        return {key: self.stored[key] for key in keys}


def leaves_of(count: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + n.to_bytes(8, "big")).digest() for n in range(count)]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300), st.data())
def test_inclusion_proofs_equal_the_rfc_and_verify(size: int, data: st.DataObject) -> None:
    leaves = leaves_of(size)
    tree = StoredTree(leaves)
    index = data.draw(st.integers(0, size - 1))

    made = with_nodes(tree, lambda sub: inclusion_path(index, 0, size, sub))  # type: ignore[arg-type]

    assert tree.frontier.root() == mth(leaves) == root_of(leaves)
    assert made == path(index, leaves)
    assert verify_inclusion(index, size, leaves[index], made, mth(leaves))
    assert not verify_inclusion(index, size, b"not the leaf", made, mth(leaves))


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 300), st.data())
def test_consistency_proofs_equal_the_rfc_and_verify(second: int, data: st.DataObject) -> None:
    leaves = leaves_of(second)
    tree = StoredTree(leaves)
    first = data.draw(st.integers(1, second - 1))

    made = with_nodes(tree, lambda sub: consistency_path(first, 0, second, sub))  # type: ignore[arg-type]

    assert made == subproof(first, leaves, True)
    old, new = mth(leaves[:first]), mth(leaves)
    assert verify_consistency(first, second, old, new, made)
    assert not verify_consistency(first, second, mth(leaves[: first - 1] or [b"x"]), new, made)


@given(st.integers(2, 64), st.data())
def test_a_proof_with_one_hash_changed_is_refused(size: int, data: st.DataObject) -> None:
    leaves = leaves_of(size)
    index = data.draw(st.integers(0, size - 1))
    proof = path(index, leaves)
    if not proof:
        return
    broken = list(proof)
    which = data.draw(st.integers(0, len(broken) - 1))
    broken[which] = hashlib.sha256(broken[which]).digest()

    assert not verify_inclusion(index, size, leaves[index], broken, mth(leaves))
    assert not verify_inclusion(index, size, leaves[index], proof[:-1], mth(leaves))
