"""Merkle proofs over a chapter's chain hashes: checked as a stranger holding only a root would,
and making many inclusion proofs at once (`inclusion_proofs`, for a copy's manifest).

The tree (docs/architecture.md, "The log in one page") has the chain hashes h[1..size] as leaves,
RFC 6962's shape and BLAKE3: leaf = H(0x00 || h[n]), node = H(0x01 || left || right). Two proofs:

- inclusion: h[rev] is leaf rev - 1 of the tree of `size` leaves whose root you hold;
- consistency (RFC 9162 §2.1.4): the tree of `old_size` leaves is a prefix of the tree of
  `new_size` leaves, so a root you trusted once vouches for the newer one, and a server that
  rewrote anything before `old_size` cannot produce a proof.

A root does not say its own size: pin a (size, root) pair you trust (a signed head, an earlier
proof), and check against it, never against the root a server sends along with its proof. The
verification is rust_core's; these functions add only the 1-based revs and the hex the HTTP
answers carry, and turn anything malformed (bad hex, a negative or oversized number) into False
rather than an exception. Pure: the caller brings the bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from rust_core import (
    merkle_consistency_verify,
    merkle_leaf_hashes,
    merkle_parents,
    merkle_verify,
)

__all__ = [
    "inclusion_proofs",
    "verify_consistency",
    "verify_consistency_hex",
    "verify_inclusion",
    "verify_inclusion_hex",
]

_MAX = 2**63 - 1  # rust_core takes sizes as i64
_HASH = 32


def _sizes_ok(*sizes: int) -> bool:
    return all(type(s) is int and 0 <= s <= _MAX for s in sizes)


def verify_inclusion(root: bytes, leaf: bytes, rev: int, size: int, proof: Sequence[bytes]) -> bool:
    """True iff `proof` shows `leaf` (h[rev]) is event `rev` (1-based) among the first `size`
    events of the tree whose root is `root`."""
    if not _sizes_ok(rev, size) or rev < 1:
        return False
    return merkle_verify(root, leaf, rev - 1, size, list(proof))


def verify_consistency(
    old_root: bytes, new_root: bytes, old_size: int, new_size: int, proof: Sequence[bytes]
) -> bool:
    """True iff `proof` shows the first `old_size` events (root `old_root`) are a prefix of the
    first `new_size` (root `new_root`). Equal sizes need equal roots and an empty proof."""
    if not _sizes_ok(old_size, new_size):
        return False
    return merkle_consistency_verify(old_root, new_root, old_size, new_size, list(proof))


def _unhex(values: Sequence[str]) -> list[bytes] | None:
    try:
        return [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError):
        return None


def verify_inclusion_hex(root: str, leaf: str, rev: int, size: int, proof: Sequence[str]) -> bool:
    """`verify_inclusion` over hex strings, as GET …/proof?rev=&size= answers them."""
    decoded = _unhex([root, leaf, *proof])
    if decoded is None:
        return False
    return verify_inclusion(decoded[0], decoded[1], rev, size, decoded[2:])


def verify_consistency_hex(
    old_root: str, new_root: str, old_size: int, new_size: int, proof: Sequence[str]
) -> bool:
    """`verify_consistency` over hex strings, as GET …/proof?from=&to= answers them."""
    decoded = _unhex([old_root, new_root, *proof])
    if decoded is None:
        return False
    return verify_consistency(decoded[0], decoded[1], old_size, new_size, decoded[2:])


def inclusion_proofs(hashes: bytes, revs: Sequence[int]) -> list[list[bytes]]:
    """Inclusion proofs of h[rev] for each rev in `revs`, in the tree over h[1..] of concatenated
    hashes h[0..] (as `CopyManifest.hashes`): every level is hashed once by rust_core, O(n), then
    each proof takes O(log n) siblings (`rust_core.merkle_proof` would re-hash the tree per proof).

    A level with an odd node out carries it up unhashed: that is RFC 6962's tree, which splits at
    the largest power of two, seen bottom up."""
    leaves = [hashes[i : i + _HASH] for i in range(_HASH, len(hashes), _HASH)]
    levels = [merkle_leaf_hashes(leaves)] if leaves else []
    while levels and len(levels[-1]) > _HASH:
        level = levels[-1]
        paired = len(level) // (2 * _HASH) * 2 * _HASH
        levels.append(merkle_parents(level[:paired]) + level[paired:])
    proofs: list[list[bytes]] = []
    for rev in revs:
        index, proof = rev - 1, []
        for level in levels[:-1]:
            sibling = index ^ 1
            if sibling * _HASH < len(level):
                proof.append(level[sibling * _HASH : (sibling + 1) * _HASH])
            index >>= 1
        proofs.append(proof)
    return proofs
