"""Typed face of the Rust core: hashing, chain folding and verification, diff/patch, chunking,
Merkle inclusion and consistency proofs.

The work happens in the private extension `rust_core._native`; this module only re-exports it
(types live in `__init__.pyi`). A chunk's id is `hash(text[start:end].encode())` for each span
returned by `chunk_text`.
"""

from rust_core._native import (
    CHAIN_DOMAIN,
    GENESIS,
    Hasher,
    PatchError,
    chain_fold,
    chain_link,
    chunk_text,
    diff,
    hash,
    merkle_consistency_proof,
    merkle_consistency_verify,
    merkle_leaf_hashes,
    merkle_parents,
    merkle_proof,
    merkle_root,
    merkle_verify,
    patch,
    verify_chain,
)

__all__ = [
    "CHAIN_DOMAIN",
    "GENESIS",
    "Hasher",
    "PatchError",
    "chain_fold",
    "chain_link",
    "chunk_text",
    "diff",
    "hash",
    "merkle_consistency_proof",
    "merkle_consistency_verify",
    "merkle_leaf_hashes",
    "merkle_parents",
    "merkle_proof",
    "merkle_root",
    "merkle_verify",
    "patch",
    "verify_chain",
]
