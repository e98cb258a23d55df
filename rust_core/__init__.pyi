"""Typed face of the Rust core (rust_core._native). Buffers are positional-only, options keyword-only."""

from collections.abc import Sequence
from typing import Final, final

from typing_extensions import Buffer

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

# --- hashing -------------------------------------------------------------------------------

def hash(data: Buffer, /) -> bytes:
    """BLAKE3 digest (32 bytes) of any C-contiguous buffer (bytes, bytearray, memoryview, mmap).

    Raises TypeError for a non-buffer (e.g. str) and BufferError for a non-contiguous one.
    """

@final
class Hasher:
    """Incremental BLAKE3: `Hasher(a)` then `.update(b)` gives `.digest() == hash(a + b)`."""

    def __init__(self, data: Buffer | None = None, /) -> None: ...
    def update(self, data: Buffer, /) -> None:
        """Feed more bytes."""
    def digest(self, /) -> bytes:
        """32-byte digest of everything fed so far (feeding may continue)."""
    def hexdigest(self, /) -> str:
        """`digest()` as 64 lower-case hex characters."""
    def copy(self, /) -> Hasher:
        """An independent hasher with the same state."""

# --- the hash chain: h[0] = GENESIS, h[n] = BLAKE3(CHAIN_DOMAIN || h[n-1] || payload[n]) ------

GENESIS: Final[bytes]
"""h[0]: 32 zero bytes."""
CHAIN_DOMAIN: Final[bytes]
"""b"ragstack.chain.v1", hashed raw (no length prefix, no separator) before h[n-1]."""

def chain_link(prev: bytes, payload: bytes, /) -> bytes:
    """h[n] from h[n-1] (`prev`, 32 bytes) and the stored bytes of event n.

    Raises ValueError if `prev` is not 32 bytes.
    """

def chain_fold(prev: bytes, payloads: Sequence[bytes], /) -> list[bytes]:
    """[h[n+1], h[n+2], ...] for `payloads` continuing from `prev` = h[n].

    Raises ValueError if `prev` is not 32 bytes, TypeError if an item is not bytes.
    """

def verify_chain(prev: bytes, payloads: Sequence[bytes], hashes: Sequence[bytes], /) -> int | None:
    """0-based index of the first payload whose recomputed hash differs from `hashes[i]` (or,
    when the lengths differ, the first index where one side is missing); None if all match.

    Raises ValueError if `prev` is not 32 bytes, TypeError if an item is not bytes.
    """

# --- text diff and patch -------------------------------------------------------------------

class PatchError(ValueError):
    """A patch that is malformed, or was made for another base text (message
    "patch does not apply: base text differs")."""

def diff(old: str, new: str, /) -> bytes:
    """A compact binary patch (format v1, which records BLAKE3 of both texts) turning `old`
    into `new`. Texts with lone surrogates raise UnicodeEncodeError (a ValueError)."""

def patch(old: str, patch: bytes, /) -> str:
    """The new text: `patch(old, diff(old, new)) == new`.

    Raises PatchError (a ValueError) if `patch` was made for another base text or is malformed.
    """

# --- chunking ------------------------------------------------------------------------------

def chunk_text(
    text: str, /, *, target: int = 1000, min_size: int = 200, max_size: int = 2000
) -> list[tuple[int, int]]:
    """Content-defined chunks of `text` as contiguous (start, end) str-index spans covering it.

    Cuts prefer blank lines, then line breaks, then sentence ends, then whitespace, and depend
    only on nearby text, so an edit changes only the chunks around it. Sizes count code points:
    every chunk but the last has min_size <= len <= max_size (the last may be shorter). A chunk's
    id is `hash(text[start:end].encode())`. Raises ValueError unless
    1 <= min_size <= target <= max_size and max_size >= 2 * min_size.
    """

# --- Merkle proofs (RFC 6962 tree shape, BLAKE3; leaf = H(0x00 || data), node = H(0x01 || l || r))

def merkle_root(leaves: Sequence[bytes], /) -> bytes:
    """Root of the tree over `leaves` (event hashes); BLAKE3(b"") for no leaves."""

def merkle_proof(leaves: Sequence[bytes], index: int, /) -> list[bytes]:
    """Inclusion proof of `leaves[index]`: sibling hashes from the leaf upwards.

    Raises ValueError for no leaves, IndexError for an index outside the tree.
    """

def merkle_verify(
    root: bytes, leaf: bytes, index: int, size: int, proof: Sequence[bytes], /
) -> bool:
    """True iff `proof` shows `leaf` (the raw leaf data) is leaf `index` of the `size`-leaf tree
    with this `root`. Anything malformed simply fails to verify."""

def merkle_consistency_proof(leaves: Sequence[bytes], m: int, n: int, /) -> list[bytes]:
    """Consistency proof (RFC 9162 §2.1.4) that the tree over `leaves[:m]` is a prefix of the
    tree over `leaves[:n]`: empty when m == n.

    Raises ValueError unless 0 < m <= n <= len(leaves).
    """

def merkle_consistency_verify(
    old_root: bytes, new_root: bytes, m: int, n: int, proof: Sequence[bytes], /
) -> bool:
    """True iff `proof` shows the `m`-leaf tree `old_root` is a prefix of the `n`-leaf tree
    `new_root` (RFC 9162 §2.1.4.2). m == n needs an empty proof and equal roots; m == 0, m > n,
    a hash that is not 32 bytes, or a proof a hash short or long all fail."""

def merkle_leaf_hashes(leaves: Sequence[bytes], /) -> bytes:
    """H(0x00 || leaf) for each leaf, concatenated (32 bytes each): a stored tree's bottom row."""

def merkle_parents(nodes: bytes, /) -> bytes:
    """The row above concatenated 32-byte nodes: H(0x01 || left || right) per pair.

    Raises ValueError unless len(nodes) is a multiple of 64.
    """
