"""events.proofs: the 1-based, hex-speaking face of rust_core's Merkle verifiers."""

import rust_core
from events.proofs import (
    verify_consistency,
    verify_consistency_hex,
    verify_inclusion,
    verify_inclusion_hex,
)


def chain(n: int) -> list[bytes]:
    return rust_core.chain_fold(rust_core.GENESIS, [f"event {i}".encode() for i in range(n)])


def test_inclusion_counts_revs_from_one():
    hashes = chain(9)
    root = rust_core.merkle_root(hashes)
    proof = rust_core.merkle_proof(hashes, 4)
    assert verify_inclusion(root, hashes[4], 5, 9, proof)
    assert not verify_inclusion(root, hashes[4], 4, 9, proof)
    assert not verify_inclusion(root, hashes[4], 0, 9, proof)
    assert verify_inclusion_hex(root.hex(), hashes[4].hex(), 5, 9, [p.hex() for p in proof])


def test_consistency_between_two_heads():
    hashes = chain(12)
    old, new = rust_core.merkle_root(hashes[:5]), rust_core.merkle_root(hashes)
    proof = rust_core.merkle_consistency_proof(hashes, 5, 12)
    assert verify_consistency(old, new, 5, 12, proof)
    assert verify_consistency_hex(old.hex(), new.hex(), 5, 12, [p.hex() for p in proof])
    assert not verify_consistency(new, old, 12, 5, proof)


def test_malformed_input_is_false_not_an_error():
    hashes = chain(4)
    root = rust_core.merkle_root(hashes)
    proof = [p.hex() for p in rust_core.merkle_proof(hashes, 0)]
    assert not verify_inclusion_hex(root.hex(), "zz", 1, 4, proof)
    assert not verify_inclusion_hex(root.hex(), hashes[0].hex(), 1, 2**64, proof)
    assert not verify_inclusion_hex(root.hex(), hashes[0].hex(), True, 4, proof)
    assert not verify_consistency_hex(root.hex(), root.hex(), -1, 4, [])
    assert not verify_consistency_hex(root.hex(), root.hex(), 4, 2**70, [])
    assert not verify_consistency_hex("not hex", root.hex(), 4, 4, [])
