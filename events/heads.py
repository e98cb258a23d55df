"""Signed tree heads: the signing strings, signing, and the pure check of every `HeadSigned`.

A `HeadSigned` event at rev p vouches for the chapter as it stood at an earlier rev r (the
signers sign the head, r = p - 1). Its Ed25519 signature, by a key of the chapter's book
(events/keys.py), is over the UTF-8 bytes of

    ragstack.head.v2|<chapter>|<rev>|<head>|<root>     (events with a `root`)
    ragstack.head.v1|<chapter>|<rev>|<head>            (earlier events, without one)

where `<chapter>` is the chapter id, `<rev>` is r in decimal, `<head>` is h[r] in lower-case hex
(the hash chain, events/chain.py) and `<root>` is the lower-case hex RFC 9162 Merkle root over the
leaves h[1..r] (BLAKE3, leaf = BLAKE3(0x00 || h), node = BLAKE3(0x01 || left || right); what
`rust_core.merkle_root` computes and inclusion and consistency proofs are checked against).

`HeadCheck` is fed the events that verified in the chain (events/chain.py), in order, and checks
each `HeadSigned` among them: r < p, its head is h[r], its root is the Merkle root at r, its key is
one of the book's keys at the event's time (`at`), and the signature verifies. The first fault
names the `HeadSigned`'s own rev. The engine (engine/verify.py) and the client (client/chain.py)
both check with it. Pure: the caller brings the bytes and the book's key history.
"""

from __future__ import annotations

from collections.abc import Sequence

from events.chapter import HeadSigned
from events.envelope import DecodeError, decode
from events.keys import KeyHistory, sign, signature_ok
from rust_core import GENESIS, merkle_root
from rust_core import hash as blake3

__all__ = [
    "HEAD_V1",
    "HEAD_V2",
    "HeadCheck",
    "MerkleFrontier",
    "head_message",
    "head_signature_ok",
    "sign_head",
]

HEAD_V1 = "ragstack.head.v1"
"""First field of the signing string of a head without a Merkle root."""
HEAD_V2 = "ragstack.head.v2"
"""First field of the signing string of a head with its Merkle root."""

_HASH = 32
_TAG = b"HeadSigned"


def head_message(chapter: str, rev: int, head: str, root: str | None = None) -> bytes:
    """The bytes a head's signature covers: v2 with a root, v1 without."""
    if root is None:
        return f"{HEAD_V1}|{chapter}|{rev}|{head}".encode()
    return f"{HEAD_V2}|{chapter}|{rev}|{head}|{root}".encode()


def sign_head(private: bytes, key: str, chapter: str, rev: int, head: str, root: str) -> HeadSigned:
    """A v2 `HeadSigned` of `chapter` at `rev` by the key `key` (the public half of `private`)."""
    signature = sign(private, head_message(chapter, rev, head, root))
    return HeadSigned(rev=rev, head=head, key=key, signature=signature, root=root)


def head_signature_ok(chapter: str, body: HeadSigned) -> bool:
    """Whether the body's signature verifies under the key it names (not whose key it is)."""
    message = head_message(chapter, body.rev, body.head, body.root)
    return signature_ok(body.key, message, body.signature)


def _node(left: bytes, right: bytes) -> bytes:
    return blake3(b"\x01" + left + right)


class MerkleFrontier:
    """The Merkle tree over the leaves seen so far, kept as its perfect subtrees (left to right,
    sizes strictly decreasing): O(log n) memory, any prefix's root in O(log n) hashes. Leaves are
    added in aligned power-of-two runs whose roots `rust_core.merkle_root` computes."""

    def __init__(self) -> None:
        self.size = 0
        self._nodes: list[tuple[int, bytes]] = []

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Add leaves (chain hashes) after the ones seen."""
        i = 0
        while i < len(leaves):
            # The largest power of two that keeps the run aligned and within `leaves`.
            run = self.size & -self.size if self.size else 1 << 62
            while run > len(leaves) - i:
                run >>= 1
            self._push(run, merkle_root(leaves[i : i + run]))
            i += run

    def _push(self, size: int, node: bytes) -> None:
        self.size += size
        while self._nodes and self._nodes[-1][0] == size:
            left = self._nodes.pop()[1]
            node, size = _node(left, node), size * 2
        self._nodes.append((size, node))

    def root(self) -> bytes:
        """The RFC 9162 root over every leaf seen (BLAKE3("") for none)."""
        if not self._nodes:
            return blake3(b"")
        acc = self._nodes[-1][1]
        for _, node in reversed(self._nodes[:-1]):
            acc = _node(node, acc)
        return acc


class HeadCheck:
    """Feed the chain-verified events of a chapter in order from rev 1; the first bad
    `HeadSigned` stops the check (`bad_rev`, `reason`).

    `keys` is the book's key history: a signature must be by a key of the book valid at the
    event's time. Without it (None), each signature is checked under the key it names only.
    All chain hashes are kept (32 bytes per event) to check a head signed behind the log's tip.
    """

    def __init__(self, chapter: str, keys: KeyHistory | None = None) -> None:
        self.chapter = chapter
        self.keys = keys
        self.signed = 0
        """How many `HeadSigned` verified."""
        self.last_signed: HeadSigned | None = None
        """The last `HeadSigned` that verified."""
        self.bad_rev: int | None = None
        self.reason: str | None = None
        self._hashes = bytearray()  # h[1..size]
        self._frontier = MerkleFrontier()

    @property
    def failed(self) -> bool:
        return self.bad_rev is not None

    @property
    def size(self) -> int:
        """Events fed so far."""
        return len(self._hashes) // _HASH

    def feed(self, payloads: Sequence[bytes], hashes: Sequence[bytes]) -> bool:
        """Check the next events (revs size + 1, …); False from the first fault on."""
        if self.failed:
            return False
        first, done = self.size + 1, 0
        # A cheap filter: only payloads that could be a HeadSigned are decoded.
        for i in [i for i, payload in enumerate(payloads) if _TAG in payload]:
            self._hashes += b"".join(hashes[done:i])
            done = i
            self._extend_to(first + i - 1)
            if not self._check(first + i, payloads[i]):
                return False
        self._hashes += b"".join(hashes[done:])
        return True

    def _extend_to(self, size: int) -> None:
        """Bring the frontier to the first `size` leaves (hashes already held)."""
        if self._frontier.size < size <= self.size:
            start, end = self._frontier.size * _HASH, size * _HASH
            buf = bytes(self._hashes[start:end])
            self._frontier.extend([buf[j : j + _HASH] for j in range(0, len(buf), _HASH)])

    def _root_at(self, rev: int) -> bytes:
        if rev == self._frontier.size:
            return self._frontier.root()
        # A head signed behind the tip: rebuilt from the hashes (rare, and never by our signers).
        buf = bytes(self._hashes[: rev * _HASH])
        return merkle_root([buf[j : j + _HASH] for j in range(0, len(buf), _HASH)])

    def hash_at(self, rev: int) -> bytes:
        """h[rev] of the events fed (GENESIS for rev 0)."""
        if rev == 0:
            return GENESIS
        return bytes(self._hashes[(rev - 1) * _HASH : rev * _HASH])

    def _check(self, rev: int, payload: bytes) -> bool:
        try:
            envelope = decode(payload)
        except DecodeError:
            return True  # the chain check decides what an undecodable payload is
        body = envelope.body
        if not isinstance(body, HeadSigned):
            return True
        where = f"the signed head at rev {rev}"
        if not 1 <= body.rev < rev:
            return self._fail(rev, f"{where} signs rev {body.rev}, not an earlier rev")
        if body.head != self.hash_at(body.rev).hex():
            return self._fail(rev, f"{where} names a head that is not h[{body.rev}]")
        if body.root is not None and body.root != self._root_at(body.rev).hex():
            return self._fail(
                rev, f"{where} names a root that is not the Merkle root over h[1..{body.rev}]"
            )
        if self.keys is not None:
            book_key = self.keys.find(body.key)
            if book_key is None:
                reason = f"{where} is signed by key {body.key[:16]}…, which is not the book's"
                if self.keys.failed:
                    reason += f" ({self.keys.reason})"
                return self._fail(rev, reason)
            if not book_key.valid_at(envelope.at):
                return self._fail(
                    rev, f"{where} is signed by key {body.key[:16]}…, not the book's at that time"
                )
        if not head_signature_ok(self.chapter, body):
            version = HEAD_V1 if body.root is None else HEAD_V2
            return self._fail(rev, f"{where} has a signature that does not verify ({version})")
        self.signed += 1
        self.last_signed = body
        return True

    def _fail(self, rev: int, reason: str) -> bool:
        self.bad_rev, self.reason = rev, reason
        return False
