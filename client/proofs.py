"""Checking the server's Merkle proofs here, against roots the client already trusts.

A proof's own root proves nothing on its own: a server that rewrote history would send a root
that matches its rewrite. So the helpers take the root to check against from the caller (a signed
head, an earlier answer it pinned, a copy's origin) and `RootPin` keeps one: it moves forward
only by a consistency proof from the root it holds, so every later root is tied to the first.
The checks are `events.proofs` (rust_core underneath); anything malformed is simply False.
"""

from __future__ import annotations

import msgspec

from client.models import Proof
from events.proofs import verify_consistency_hex, verify_inclusion_hex

__all__ = ["Consistency", "RootPin", "check_consistency", "check_inclusion"]


class Consistency(msgspec.Struct, frozen=True, kw_only=True):
    """GET …/proof?from=&to=: the tree over the first `from_` events is a prefix of the tree
    over the first `to`."""

    from_: int = msgspec.field(name="from")
    to: int
    old_root: str = ""
    """Root over h[1..from], hex."""
    new_root: str = ""
    """Root over h[1..to], hex."""
    proof: list[str] = []
    """The consistency path (RFC 9162 §2.1.4), hex."""
    served_from: str = ""
    """`tree` (the stored tree) or `log` (the tree was behind)."""

    def verify(self, old_root: str | None = None) -> bool:
        """Check the proof here, against `old_root` when you hold one (else the proof's own)."""
        return check_consistency(self, old_root or self.old_root)


def check_inclusion(proof: Proof, trusted_root: str) -> bool:
    """True iff `proof` shows its event is among the first `proof.size` of the tree whose root
    you trust (hex)."""
    return verify_inclusion_hex(trusted_root, proof.leaf, proof.rev, proof.size, proof.proof)


def check_consistency(proof: Consistency, trusted_old_root: str) -> bool:
    """True iff `proof` shows the tree you trust (`trusted_old_root`, of `proof.from_` events)
    is a prefix of the tree `proof.new_root` of `proof.to` events."""
    return verify_consistency_hex(
        trusted_old_root, proof.new_root, proof.from_, proof.to, proof.proof
    )


class RootPin:
    """A (size, root) the client trusts, moved forward only by consistency proofs from it."""

    def __init__(self, size: int, root: str) -> None:
        self.size = size
        self.root = root

    def advance(self, proof: Consistency) -> bool:
        """Move to (`proof.to`, `proof.new_root`) if `proof` starts at the pinned size and checks
        against the pinned root; False (and no move) otherwise."""
        if proof.from_ != self.size or not check_consistency(proof, self.root):
            return False
        self.size, self.root = proof.to, proof.new_root
        return True

    def check(self, proof: Proof) -> bool:
        """True iff `proof` is an inclusion proof in the pinned tree."""
        return proof.size == self.size and check_inclusion(proof, self.root)
