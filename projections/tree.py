"""Each chapter's Merkle tree, kept in the views database so proofs never re-read the log.

The tree is the one proofs are about (events/proofs.py): leaves are the chain hashes h[1..size].
It is stored as tiles: row `level` holds the roots of the complete subtrees of 2^level leaves
(level 0 holds the chain hashes themselves, whose leaf hash H(0x00 || h) is taken when read), cut
into tiles of `TILE` nodes. A complete subtree never changes once its last leaf is in, so a fold
only appends: it rewrites the last, partial tile of each level and adds new ones, and any tree of
size n <= the folded size is in the store, because every RFC 6962 subtree of it splits into
complete aligned subtrees. A proof reads O(log n) tiles.

The fold takes the events as stored (`apply_recorded`: the runner hands this projection
`RecordedEvent`s, since envelopes carry no chain hash) and checks their chain continues from the
last hash it folded, so a tile never holds a hash the log does not. Tiles, the tree's size and
head, and the checkpoint commit together; a rebuild from rev 1 gives the same tiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import aiosqlite
import msgspec

import rust_core
from engine.errors import ChainBroken
from engine.log import GENESIS, Log
from events import Envelope, RecordedEvent
from projections.audit import InclusionProof
from projections.store import Checkpoints, Views

__all__ = [
    "TILE",
    "ConsistencyProof",
    "TreeBehind",
    "Trees",
    "consistency_from_log",
    "consistency_ranges",
    "inclusion_ranges",
]

TILE = 256
"""Nodes per stored tile (8 KiB of hashes)."""
_HASH = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS merkle_trees (
    chapter TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    head BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS merkle_tiles (
    chapter TEXT NOT NULL,
    level INTEGER NOT NULL,
    tile INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (chapter, level, tile)
) WITHOUT ROWID;
"""


class TreeBehind(LookupError):
    """The stored tree has not folded as many events as the proof needs (ask the log)."""


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True):
    """The tree over h[1..old_size] is a prefix of the tree over h[1..new_size]."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]
    """RFC 9162 §2.1.4 consistency path."""

    def verify(self) -> bool:
        """`rust_core.merkle_consistency_verify(old_root, new_root, old_size, new_size, proof)`."""
        return rust_core.merkle_consistency_verify(
            self.old_root, self.new_root, self.old_size, self.new_size, self.proof
        )


# -- which subtrees a proof names (RFC 6962 / 9162), as leaf ranges [lo, hi) ---------------------


def _split(size: int) -> int:
    return 1 << ((size - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose roots are the audit path of leaf `index`, nearest sibling first."""
    path: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    return path[::-1]


def consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The subtrees whose roots are PROOF(m, D[n]) (RFC 9162 §2.1.4.1), in order."""
    path: list[tuple[int, int]] = []
    lo, hi, complete = 0, n, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        path.append((lo, hi))
    return path[::-1]


def _complete_nodes(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi) as complete aligned subtrees (level, index), largest first: RFC 6962 splits at
    the largest power of two below the size, so the root is their right fold."""
    out: list[tuple[int, int]] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        while lo % (1 << level):  # never for the ranges proofs name; kept total anyway
            level -= 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def _node(left: bytes, right: bytes) -> bytes:
    return rust_core.hash(b"\x01" + left + right)


class Trees:
    """The stored trees: a projection (name `tree`) and the proofs served from it."""

    name = "tree"
    version = 1

    def __init__(self, views: Views) -> None:
        self.views = views
        self._checkpoints = Checkpoints(views, self.name)

    async def open(self) -> None:
        """Create the tables (in SQLite: PostgreSQL's come from its migrations)."""
        if self.views.dialect == "sqlite":
            await self.views.script(_SCHEMA)

    # -- the projection ----------------------------------------------------------------------

    async def load_checkpoint(self, chapter: str) -> tuple[int, int] | None:
        """(rev, version) last folded for `chapter`."""
        return await self._checkpoints.load(chapter)

    async def reset(self, chapter: str) -> None:
        """Forget the chapter's tree and checkpoint."""
        async with self.views.transaction() as db:
            await db.execute("DELETE FROM merkle_tiles WHERE chapter = ?", (chapter,))
            await db.execute("DELETE FROM merkle_trees WHERE chapter = ?", (chapter,))
            await self._checkpoints.forget(db, chapter)

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        """Envelopes carry no chain hash: the runner calls `apply_recorded` instead."""
        raise TypeError("the tree folds events as stored: call apply_recorded")

    async def idle(self, chapter: str) -> None:
        """Nothing deferred."""

    async def apply_recorded(self, chapter: str, events: Sequence[RecordedEvent]) -> None:
        """Append the events' chain hashes as leaves (consecutive revs after the stored size)."""
        if not events:
            return
        async with self.views.transaction() as db:
            # Another process folding this chapter (PostgreSQL) commits before the size is read.
            await self._checkpoints.fence(db, chapter)
            rows = list(
                await db.execute_fetchall(
                    "SELECT size, head FROM merkle_trees WHERE chapter = ?", (chapter,)
                )
            )
            size, head = (rows[0][0], rows[0][1]) if rows else (0, GENESIS)
            if events[0].rev != size + 1:
                raise ChainBroken(chapter, size + 1, f"the tree expected rev {size + 1} next")
            hashes = [e.hash for e in events]
            bad = rust_core.verify_chain(head, [e.payload for e in events], hashes)
            if bad is not None:
                raise ChainBroken(chapter, events[bad].rev, "the chain hash does not verify")
            edges = await self._edge_tiles(db, chapter, size)
            tiles = _grow(size, hashes, edges)
            await db.executemany(
                "INSERT INTO merkle_tiles (chapter, level, tile, hashes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (chapter, level, tile) DO UPDATE SET hashes = excluded.hashes",
                [(chapter, level, tile, data) for (level, tile), data in tiles.items()],
            )
            await db.execute(
                "INSERT INTO merkle_trees (chapter, size, head) VALUES (?, ?, ?) "
                "ON CONFLICT (chapter) DO UPDATE SET size = excluded.size, head = excluded.head",
                (chapter, events[-1].rev, hashes[-1]),
            )
            await self._checkpoints.store(db, chapter, events[-1].rev, self.version)

    async def _edge_tiles(
        self, db: aiosqlite.Connection, chapter: str, size: int
    ) -> dict[tuple[int, int], bytes]:
        # The partial tile of each level: where new nodes go, and the unpaired left nodes.
        counts = [(level, size >> level) for level in range(size.bit_length())]
        wanted = [(level, count // TILE) for level, count in counts if count % TILE]
        if not wanted:
            return {}
        rows = await db.execute_fetchall(*_select_tiles(chapter, wanted))
        return {(lvl, tile): bytes(data) for lvl, tile, data in rows}

    # -- reading -----------------------------------------------------------------------------

    async def digest(self, chapter: str) -> str:
        """A hash of the chapter's stored tree, to compare a rebuild with a live build."""
        rows = await self.views.fetchall(
            "SELECT level, tile, hashes FROM merkle_tiles WHERE chapter = ? ORDER BY level, tile",
            (chapter,),
        )
        tree = await self.views.fetchall(
            "SELECT size, head FROM merkle_trees WHERE chapter = ?", (chapter,)
        )
        data = msgspec.msgpack.encode([list(r) for r in tree + rows])
        return rust_core.hash(data).hex()

    async def size(self, chapter: str) -> int:
        """How many events the stored tree holds (0: none yet)."""
        row = await self.views.fetchone(
            "SELECT size FROM merkle_trees WHERE chapter = ?", (chapter,)
        )
        return row[0] if row else 0

    async def _reader(self, chapter: str, needed: int) -> _Nodes:
        size = await self.size(chapter)
        if needed > size:
            raise TreeBehind(f"the stored tree of {chapter!r} holds {size} events, not {needed}")
        return _Nodes(self.views, chapter)

    async def root(self, chapter: str, size: int) -> bytes:
        """Root of the tree over h[1..size] (BLAKE3(b"") for size 0)."""
        if size == 0:
            return rust_core.hash(b"")
        nodes = await self._reader(chapter, size)
        await nodes.load(_complete_nodes(0, size))
        return nodes.root(0, size)

    async def inclusion(self, chapter: str, rev: int, size: int) -> InclusionProof:
        """Prove event `rev` is among the first `size` events (1 <= rev <= size)."""
        if not 1 <= rev <= size:
            raise ValueError(f"a proof needs 1 <= rev <= size, not rev {rev} and size {size}")
        nodes = await self._reader(chapter, size)
        ranges = inclusion_ranges(rev - 1, size)
        await nodes.load([(0, rev - 1), *_all_nodes([(0, size), *ranges])])
        return InclusionProof(
            rev=rev,
            size=size,
            leaf=nodes.stored(0, rev - 1),
            root=nodes.root(0, size),
            proof=[nodes.root(lo, hi) for lo, hi in ranges],
        )

    async def consistency(self, chapter: str, old_size: int, new_size: int) -> ConsistencyProof:
        """Prove the first `old_size` events are a prefix of the first `new_size`
        (1 <= old_size <= new_size)."""
        if not 1 <= old_size <= new_size:
            raise ValueError(f"a proof needs 1 <= from <= to, not {old_size} and {new_size}")
        nodes = await self._reader(chapter, new_size)
        ranges = consistency_ranges(old_size, new_size)
        await nodes.load(_all_nodes([(0, old_size), (0, new_size), *ranges]))
        return ConsistencyProof(
            old_size=old_size,
            new_size=new_size,
            old_root=nodes.root(0, old_size),
            new_root=nodes.root(0, new_size),
            proof=[nodes.root(lo, hi) for lo, hi in ranges],
        )


def _select_tiles(chapter: str, wanted: list[tuple[int, int]]) -> tuple[str, list[object]]:
    # One point lookup per tile, joined by UNION ALL: each is answered from the primary key.
    # (An IN over row values, or many OR-ed terms, lets the planner prefer scanning every tile
    # of the chapter, 64 MiB at a million events.)
    one = (
        "SELECT level, tile, hashes FROM merkle_tiles WHERE chapter = ? AND level = ? AND tile = ?"
    )
    params: list[object] = []
    for level, tile in wanted:
        params += [chapter, level, tile]
    return " UNION ALL ".join([one] * len(wanted)), params


def _all_nodes(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    return [node for lo, hi in ranges for node in _complete_nodes(lo, hi)]


def _grow(
    size: int, hashes: list[bytes], edges: dict[tuple[int, int], bytes]
) -> dict[tuple[int, int], bytes]:
    """The tiles to write when `hashes` (h[size+1], …) join a tree of `size` leaves."""
    out: dict[tuple[int, int], bytes] = {}
    level, start = 0, size
    stored = b"".join(hashes)  # what the level keeps: chain hashes at 0, subtree roots above
    row = rust_core.merkle_leaf_hashes(hashes)  # the same nodes as tree hashes
    while row:
        first_tile = start // TILE
        prefix = edges.get((level, first_tile), b"") if start % TILE else b""
        if len(prefix) != (start % TILE) * _HASH:
            raise RuntimeError(f"tree tile ({level}, {first_tile}) is missing or torn")
        data = prefix + stored
        for i in range(0, len(data), TILE * _HASH):
            out[(level, first_tile + i // (TILE * _HASH))] = data[i : i + TILE * _HASH]
        # Parents: an odd start pairs with the stored node before it; an odd end waits.
        if start % 2:
            left = prefix[-_HASH:]
            row = (rust_core.hash(b"\x00" + left) if level == 0 else left) + row
            start -= 1
        row = row[: len(row) // 64 * 64]
        row = rust_core.merkle_parents(row)
        stored = row
        level, start = level + 1, start // 2
    return out


class _Nodes:
    """Stored complete-subtree roots of one chapter, fetched a tile at a time."""

    def __init__(self, views: Views, chapter: str) -> None:
        self._views = views
        self._chapter = chapter
        self._tiles: dict[tuple[int, int], bytes] = {}

    async def load(self, nodes: Iterable[tuple[int, int]]) -> None:
        wanted = sorted({(level, index // TILE) for level, index in nodes} - self._tiles.keys())
        if not wanted:
            return
        rows = await self._views.fetchall(*_select_tiles(self._chapter, wanted))
        self._tiles.update({(level, tile): bytes(data) for level, tile, data in rows})

    def stored(self, level: int, index: int) -> bytes:
        tile = self._tiles.get((level, index // TILE), b"")
        at = (index % TILE) * _HASH
        if len(tile) < at + _HASH:  # a rebuild began between reading the size and the tiles
            raise TreeBehind(f"node ({level}, {index}) of {self._chapter!r} is not stored")
        return tile[at : at + _HASH]

    def node(self, level: int, index: int) -> bytes:
        value = self.stored(level, index)
        return rust_core.hash(b"\x00" + value) if level == 0 else value

    def root(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]): the right fold of its complete subtrees."""
        parts = [self.node(level, index) for level, index in _complete_nodes(lo, hi)]
        root = parts[-1]
        for part in reversed(parts[:-1]):
            root = _node(part, root)
        return root


# -- the fallback: the same proofs from the log itself ------------------------------------------


async def _chain_hashes(log: Log, size: int) -> list[bytes]:
    head = (await log.head()).rev
    if size > head:
        raise ValueError(f"the chapter has {head} events, fewer than {size}")
    hashes: list[bytes] = []
    async for batch in log.read_batches(0, size, verify=True):
        hashes.extend(event.hash for event in batch)
    return hashes


async def consistency_from_log(log: Log, old_size: int, new_size: int) -> ConsistencyProof:
    """`Trees.consistency`, reading h[1..new_size] from the log (for a tree that is behind);
    `projections.audit.inclusion_proof` is its inclusion twin."""
    if not 1 <= old_size <= new_size:
        raise ValueError(f"a proof needs 1 <= from <= to, not {old_size} and {new_size}")
    leaves = await _chain_hashes(log, new_size)
    return ConsistencyProof(
        old_size=old_size,
        new_size=new_size,
        old_root=rust_core.merkle_root(leaves[:old_size]),
        new_root=rust_core.merkle_root(leaves),
        proof=rust_core.merkle_consistency_proof(leaves, old_size, new_size),
    )
