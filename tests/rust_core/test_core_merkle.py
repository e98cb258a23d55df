"""rust_core Merkle proofs: RFC 6962 tree shape with BLAKE3, checked by hand and exhaustively."""

import pytest

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
