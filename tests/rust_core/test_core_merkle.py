"""rust_core Merkle proofs: RFC 6962 tree shape with BLAKE3, checked by hand, against the RFC's
worked example, exhaustively for small trees, and with forged proofs (property tests)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rust_core


def leaf(data: bytes) -> bytes:
    return rust_core.hash(b"\x00" + data)


def node(left: bytes, right: bytes) -> bytes:
    return rust_core.hash(b"\x01" + left + right)


def reference_root(leaves: list[bytes]) -> bytes:
    # RFC 6962 §2.1 MTH, recursively, as the RFC states it.
    if not leaves:
        return rust_core.hash(b"")
    if len(leaves) == 1:
        return leaf(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node(reference_root(leaves[:k]), reference_root(leaves[k:]))


def events(n: int) -> list[bytes]:
    return rust_core.chain_fold(rust_core.GENESIS, [f"event {i}".encode() for i in range(n)])


def test_small_trees_by_hand():
    a, b, c, d, e = (bytes([i]) * 32 for i in range(5))
    assert rust_core.merkle_root([]) == rust_core.hash(b"")
    assert rust_core.merkle_root([a]) == leaf(a)
    assert rust_core.merkle_root([a, b]) == node(leaf(a), leaf(b))
    ab, cd = node(leaf(a), leaf(b)), node(leaf(c), leaf(d))
    assert rust_core.merkle_root([a, b, c]) == node(ab, leaf(c))
    assert rust_core.merkle_root([a, b, c, d]) == node(ab, cd)
    # Five leaves: the left subtree is the largest power of two (4), e joins at the top.
    assert rust_core.merkle_root([a, b, c, d, e]) == node(node(ab, cd), leaf(e))
    assert rust_core.merkle_proof([a, b, c, d, e], 4) == [node(ab, cd)]
    assert rust_core.merkle_proof([a, b, c, d, e], 2) == [leaf(d), ab, leaf(e)]
    assert rust_core.merkle_proof([a], 0) == []


def test_roots_match_the_recursive_definition():
    for size in range(40):
        leaves = events(size)
        assert rust_core.merkle_root(leaves) == reference_root(leaves), size


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_every_proof_verifies(size):
    leaves = events(size)
    root = rust_core.merkle_root(leaves)
    for index, data in enumerate(leaves):
        proof = rust_core.merkle_proof(leaves, index)
        assert rust_core.merkle_verify(root, data, index, size, proof)


@pytest.mark.parametrize("size", [2, 3, 6, 13])
def test_tampered_proofs_do_not_verify(size):
    leaves = events(size)
    root = rust_core.merkle_root(leaves)
    for index, data in enumerate(leaves):
        proof = rust_core.merkle_proof(leaves, index)
        flipped = bytes([data[0] ^ 1]) + data[1:]
        assert not rust_core.merkle_verify(root, flipped, index, size, proof)
        assert not rust_core.merkle_verify(root, data, (index + 1) % size, size, proof)
        assert not rust_core.merkle_verify(root, data, index, size, proof[:-1])
        assert not rust_core.merkle_verify(root, data, index, size, [*proof, root])
        bad_sibling = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not rust_core.merkle_verify(root, data, index, size, bad_sibling)
        assert not rust_core.merkle_verify(root, data, index, size, [p[:31] for p in proof])
        other_root = rust_core.merkle_root([*leaves[:-1], b"forged"])
        assert not rust_core.merkle_verify(other_root, data, index, size, proof)


def test_indices_and_sizes_outside_the_tree_fail():
    leaves = events(4)
    root = rust_core.merkle_root(leaves)
    proof = rust_core.merkle_proof(leaves, 1)
    assert not rust_core.merkle_verify(root, leaves[1], 4, 4, proof)
    assert not rust_core.merkle_verify(root, leaves[1], -1, 4, proof)
    assert not rust_core.merkle_verify(root, leaves[1], 1, 0, proof)
    assert not rust_core.merkle_verify(root, leaves[1], 1, -4, proof)
    with pytest.raises(IndexError):
        rust_core.merkle_proof(leaves, 4)
    with pytest.raises(IndexError):
        rust_core.merkle_proof(leaves, -1)
    with pytest.raises(ValueError, match="empty tree"):
        rust_core.merkle_proof([], 0)


def test_a_subset_copy_proves_its_events_against_the_original_root():
    # The copy-share use: the original publishes (root, size); a copy holding only some events
    # proves each of them with its proof, without the rest of the log.
    original = events(100)
    root, size = rust_core.merkle_root(original), len(original)
    kept = {3: original[3], 50: original[50], 99: original[99]}
    proofs = {i: rust_core.merkle_proof(original, i) for i in kept}
    for i, data in kept.items():
        assert rust_core.merkle_verify(root, data, i, size, proofs[i])


def test_large_trees_agree_with_the_gil_released():
    leaves = events(3000)
    root = rust_core.merkle_root(leaves)
    proof = rust_core.merkle_proof(leaves, 2999)
    # 3000 = 2048 + 512 + 256 + 128 + 32 + 16 + 8: six right-hand splits, then 3 levels of 8.
    assert len(proof) == 9
    assert rust_core.merkle_verify(root, leaves[2999], 2999, 3000, proof)


# --- consistency proofs (RFC 9162 §2.1.4) ----------------------------------------------------


def reference_subproof(m: int, leaves: list[bytes], complete: bool = True) -> list[bytes]:
    # RFC 9162 §2.1.4.1 SUBPROOF, recursively, as the RFC states it.
    n = len(leaves)
    if m == n:
        return [] if complete else [reference_root(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*reference_subproof(m, leaves[:k], complete), reference_root(leaves[k:])]
    return [*reference_subproof(m - k, leaves[k:], False), reference_root(leaves[:k])]


def test_rfc6962_worked_example_is_a_known_answer():
    # RFC 6962 §2.1.3's seven-leaf tree d0..d6, node names as in the RFC, hashed with BLAKE3.
    d = [bytes([i]) * 32 for i in range(7)]
    a, b, c, d3, e, f, j = (leaf(x) for x in d)
    g, h, i = node(a, b), node(c, d3), node(e, f)
    k, l = node(g, h), node(i, j)  # noqa: E741 - the RFC's name
    root = node(k, l)
    assert rust_core.merkle_root(d) == root
    assert rust_core.merkle_proof(d, 0) == [b, h, l]
    assert rust_core.merkle_proof(d, 3) == [c, g, l]
    assert rust_core.merkle_proof(d, 4) == [f, j, k]
    assert rust_core.merkle_proof(d, 6) == [i, k]
    # "The consistency proof between hash0 and hash is PROOF(3, D[7]) = [c, d, g, l] …
    # hash1 and hash is PROOF(4, D[7]) = [l] … hash2 and hash is PROOF(6, D[7]) = [i, j, k]."
    assert rust_core.merkle_consistency_proof(d, 3, 7) == [c, d3, g, l]
    assert rust_core.merkle_consistency_proof(d, 4, 7) == [l]
    assert rust_core.merkle_consistency_proof(d, 6, 7) == [i, j, k]
    assert rust_core.merkle_consistency_proof(d, 7, 7) == []
    hash0, hash1, hash2 = node(g, c), k, node(k, i)
    assert rust_core.merkle_consistency_verify(hash0, root, 3, 7, [c, d3, g, l])
    assert rust_core.merkle_consistency_verify(hash1, root, 4, 7, [l])
    assert rust_core.merkle_consistency_verify(hash2, root, 6, 7, [i, j, k])
    assert rust_core.merkle_consistency_verify(root, root, 7, 7, [])


def test_consistency_proofs_match_the_recursive_definition():
    leaves = events(40)
    for n in range(1, 41):
        new_root = rust_core.merkle_root(leaves[:n])
        for m in range(1, n + 1):
            proof = rust_core.merkle_consistency_proof(leaves, m, n)
            assert proof == reference_subproof(m, leaves[:n]), (m, n)
            old_root = rust_core.merkle_root(leaves[:m])
            assert rust_core.merkle_consistency_verify(old_root, new_root, m, n, proof)


def test_consistency_proof_sizes_are_checked():
    leaves = events(5)
    for m, n in [(0, 3), (4, 3), (1, 6), (-1, 3), (2, -1)]:
        with pytest.raises(ValueError, match="0 < m <= n"):
            rust_core.merkle_consistency_proof(leaves, m, n)
    with pytest.raises(TypeError):
        rust_core.merkle_consistency_proof(b"not a list", 1, 1)


def test_consistency_rejects_degenerate_claims():
    leaves = events(8)
    r3, r8 = rust_core.merkle_root(leaves[:3]), rust_core.merkle_root(leaves)
    proof = rust_core.merkle_consistency_proof(leaves, 3, 8)
    verify = rust_core.merkle_consistency_verify
    assert verify(r3, r8, 3, 8, proof)
    assert not verify(r3, r8, 0, 8, proof)  # m == 0
    assert not verify(rust_core.hash(b""), r8, 0, 8, [])
    assert not verify(r8, r3, 8, 3, proof)  # m > n
    assert not verify(r3, r8, -3, 8, proof)
    assert not verify(r3, r8, 3, 8, [])  # no proof at all
    assert not verify(r3, r3, 3, 3, proof)  # equal sizes take no proof
    assert not verify(r3, r8, 8, 8, [])  # equal sizes need equal roots
    assert not verify(r3[:31], r8, 3, 8, proof)  # roots must be 32 bytes
    assert not verify(r3, r8, 3, 8, [p + b"\x00" for p in proof])


# --- adversarial property tests: valid proofs verify, every change fails -----------------------

_tree_sizes = st.integers(min_value=1, max_value=70)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=_tree_sizes)
def test_inclusion_forgeries_are_rejected(data, n):
    leaves = events(n + 1)
    roots = [rust_core.merkle_root(leaves[:s]) for s in range(n + 2)]
    index = data.draw(st.integers(0, n - 1), label="index")
    proof = rust_core.merkle_proof(leaves[:n], index)
    verify = rust_core.merkle_verify
    assert verify(roots[n], leaves[index], index, n, proof)
    bit = data.draw(st.integers(0, 255), label="bit")
    # Every single-bit flip of the root, the leaf or any sibling fails.
    assert not verify(_flip(roots[n], bit), leaves[index], index, n, proof)
    assert not verify(roots[n], _flip(leaves[index], bit), index, n, proof)
    for i in range(len(proof)):
        forged = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify(roots[n], leaves[index], index, n, forged)
    # Structure: truncated, extended, another leaf, an index or size outside the tree.
    if proof:
        assert not verify(roots[n], leaves[index], index, n, proof[:-1])
        assert not verify(roots[n], leaves[index], index, n, proof[1:])
    assert not verify(roots[n], leaves[index], index, n, [*proof, roots[n]])
    assert not verify(roots[n], leaves[index], index, n, [roots[n], *proof])
    assert not verify(roots[n], leaves[index], n, n, proof)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index), label="other")
        assert not verify(roots[n], leaves[other], index, n, proof)  # a proof for another leaf
        assert not verify(roots[n], leaves[index], other, n, proof)
        assert not verify(roots[n - 1], leaves[index], index, n - 1, proof) or index == n - 1
    # A wrong size, checked against the root of that size (a root does not commit to its size).
    assert not verify(roots[n + 1], leaves[index], index, n + 1, proof)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=_tree_sizes)
def test_consistency_forgeries_are_rejected(data, n):
    leaves = events(n + 1)
    roots = [rust_core.merkle_root(leaves[:s]) for s in range(n + 2)]
    m = data.draw(st.integers(1, n), label="m")
    proof = rust_core.merkle_consistency_proof(leaves, m, n)
    verify = rust_core.merkle_consistency_verify
    assert verify(roots[m], roots[n], m, n, proof)
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify(_flip(roots[m], bit), roots[n], m, n, proof)
    assert not verify(roots[m], _flip(roots[n], bit), m, n, proof)
    for i in range(len(proof)):
        forged = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify(roots[m], roots[n], m, n, forged)
    if proof:
        assert not verify(roots[m], roots[n], m, n, proof[:-1])
        assert not verify(roots[m], roots[n], m, n, proof[1:])
    if len(proof) > 1 and proof[0] != proof[1]:
        assert not verify(roots[m], roots[n], m, n, [proof[1], proof[0], *proof[2:]])
    assert not verify(roots[m], roots[n], m, n, [*proof, roots[n]])
    assert not verify(roots[m], roots[n], m, n, [roots[m], *proof])
    assert not verify(roots[m], roots[n], 0, n, proof)
    assert not verify(roots[n + 1], roots[m], n + 1, m, proof)  # m > n
    # Wrong sizes, each against the root of that size.
    assert not verify(roots[m], roots[n + 1], m, n + 1, proof)
    if m > 1:
        assert not verify(roots[m - 1], roots[n], m - 1, n, proof)
    if m < n:
        assert not verify(roots[m + 1], roots[n], m + 1, n, proof)
        assert not verify(roots[m], roots[n - 1], m, n - 1, proof)
    # A rewritten old tree cannot be proved a prefix of the real new one.
    rewritten = rust_core.merkle_root([*leaves[: m - 1], _flip(leaves[m - 1], bit)])
    assert not verify(rewritten, roots[n], m, n, proof)
