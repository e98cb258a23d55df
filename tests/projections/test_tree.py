"""The stored Merkle tree: folded in any batches it gives the proofs rust_core computes from all
the leaves, at every size up to what it folded; a rebuild gives the same tiles; the runner hands
it events as stored; a broken chain or a skipped rev is refused."""

import asyncio

import pytest

import rust_core
from engine.errors import ChainBroken
from engine.log import Log, Logs
from events import ChapterRenamed, RecordedEvent, new_id
from projections.audit import inclusion_proof
from projections.runner import LogSource, Runner
from projections.store import Views
from projections.tree import TILE, TreeBehind, Trees, consistency_from_log

CHAPTER = "c-tree"


def recorded(n: int) -> list[RecordedEvent]:
    payloads = [f"event {i}".encode() for i in range(n)]
    hashes = rust_core.chain_fold(rust_core.GENESIS, payloads)
    return [
        RecordedEvent(rev=i + 1, hash=h, payload=p)
        for i, (p, h) in enumerate(zip(payloads, hashes, strict=True))
    ]


async def fold(trees: Trees, events: list[RecordedEvent], batch: int, after: int = 0) -> None:
    for start in range(after, len(events), batch):
        await trees.apply_recorded(CHAPTER, events[start : start + batch])


@pytest.fixture
async def trees(views: Views) -> Trees:
    trees = Trees(views)
    await trees.open()
    return trees


SIZES = [1, 2, 3, 5, 8, 255, 256, 257, 511, 512, 513, 700, 1025, 1100]


@pytest.mark.parametrize(
    ("backend", "batch"), [*(("sqlite", b) for b in (1, 7, 256, 300, 1100)), ("postgresql", 300)]
)
async def test_stored_proofs_equal_proofs_over_all_leaves(trees, batch):
    events = recorded(1100) if batch > 1 else recorded(300)
    await fold(trees, events, batch)
    leaves = [e.hash for e in events]
    assert await trees.size(CHAPTER) == len(leaves)
    for size in [s for s in SIZES if s <= len(leaves)]:
        root = rust_core.merkle_root(leaves[:size])
        assert await trees.root(CHAPTER, size) == root, size
        for rev in sorted({1, 2, size // 2 + 1, size - 1, size} & set(range(1, size + 1))):
            proof = await trees.inclusion(CHAPTER, rev, size)
            assert proof.leaf == leaves[rev - 1]
            assert proof.root == root
            assert proof.proof == rust_core.merkle_proof(leaves[:size], rev - 1), (rev, size)
            assert proof.verify()
        for old in sorted({1, 3, size // 3 + 1, size - 1, size} & set(range(1, size + 1))):
            proof = await trees.consistency(CHAPTER, old, size)
            assert proof.old_root == rust_core.merkle_root(leaves[:old])
            assert proof.new_root == root
            assert proof.proof == rust_core.merkle_consistency_proof(leaves, old, size)
            assert proof.verify()


async def test_a_rebuild_gives_the_same_tiles(trees):
    events = recorded(3 * TILE + 17)
    await fold(trees, events, 100)
    first = await trees.digest(CHAPTER)
    await trees.reset(CHAPTER)
    assert await trees.size(CHAPTER) == 0
    assert await trees.load_checkpoint(CHAPTER) is None
    await fold(trees, events, 37)
    assert await trees.digest(CHAPTER) == first
    assert await trees.load_checkpoint(CHAPTER) == (len(events), Trees.version)


async def test_a_broken_chain_or_a_skipped_rev_is_refused(trees):
    events = recorded(10)
    await fold(trees, events[:4], 4)
    with pytest.raises(ChainBroken, match="expected rev 5"):
        await trees.apply_recorded(CHAPTER, events[5:])
    forged = [events[4], RecordedEvent(rev=6, hash=events[5].hash, payload=b"edited")]
    with pytest.raises(ChainBroken, match="revision 6"):
        await trees.apply_recorded(CHAPTER, forged)
    assert await trees.size(CHAPTER) == 4  # nothing of the refused batches was kept


async def test_a_tree_behind_says_so(trees):
    await fold(trees, recorded(5), 5)
    with pytest.raises(TreeBehind):
        await trees.inclusion(CHAPTER, 1, 6)
    with pytest.raises(TreeBehind):
        await trees.consistency(CHAPTER, 2, 9)
    with pytest.raises(ValueError):
        await trees.consistency(CHAPTER, 0, 5)
    with pytest.raises(ValueError):
        await trees.inclusion(CHAPTER, 6, 5)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_runner_folds_the_tree_from_a_real_log(logs: Logs, views: Views):
    # A real chapter log: the runner hands the tree events as stored, and its proofs equal the
    # proofs computed from the log itself.
    log: Log = logs.chapter(new_id())
    await log.create()
    stored = await log.append_many(
        [ChapterRenamed(title=f"t{i}") for i in range(40)], actor="u-owner"
    )
    trees = Trees(views)
    await trees.open()
    runner = Runner(LogSource(logs), [trees], batch_size=16, retry_delay=0.2)
    try:
        async with asyncio.timeout(30):
            await runner.wait(log.id, stored[-1].rev)
    finally:
        await runner.stop()
    from_log = await inclusion_proof(log, 17, 40)
    from_tree = await trees.inclusion(log.id, 17, 40)
    assert from_tree == from_log
    assert await trees.consistency(log.id, 11, 40) == await consistency_from_log(log, 11, 40)
