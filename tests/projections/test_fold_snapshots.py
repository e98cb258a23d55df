"""Fold checkpoints: the chapter at rev N from the nearest checkpoint plus the events after it is
exactly a fresh fold of the first N events, at every N, across checkpoint boundaries, in any order
of questions, within the memory budget, and never from a checkpoint the log no longer has."""

from __future__ import annotations

import random

import pytest

from engine.log import Log, Logs
from events import (
    Body,
    ChapterCreated,
    ChapterRenamed,
    MessagePosted,
    ShareGranted,
    ShareRevoked,
    SourceAdded,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
    new_id,
)
from projections.audit import AuditRangeError, ChapterFold, chapter_at_rev
from projections.fold_snapshots import FoldSnapshots

EVERY = 7


def _life(count: int, seed: int) -> list[Body]:
    """`count` events of a busy chapter: every kind the fold knows, re-added sources, a message
    posted twice, shares granted and revoked."""
    rng = random.Random(seed)
    bodies: list[Body] = [ChapterCreated(book="b1", title="Owls")]
    sources: list[str] = []
    threads: list[str] = []
    while len(bodies) < count:
        roll = rng.random()
        if roll < 0.25 or not sources:
            source = rng.choice(sources) if sources and rng.random() < 0.1 else new_id()
            sources.append(source)
            bodies.append(SourceAdded(source=source, name=f"{source[-4:]}.txt",
                                      media_type="text/plain", blob="ab" * 32, size=3))  # fmt: skip
        elif roll < 0.35:
            bodies.append(SourceExtracted(source=rng.choice(sources), text_blob="cd" * 32,
                                          extractor="text", extractor_version="1"))  # fmt: skip
        elif roll < 0.4:
            bodies.append(SourceRejected(source=rng.choice(sources), code="corrupt", message="x"))
        elif roll < 0.5:
            tags = rng.sample(["birds", "night", "owls"], rng.randrange(3))
            bodies.append(SourceRetagged(source=rng.choice(sources), tags=tags))
        elif roll < 0.55:
            bodies.append(SourceRemoved(source=rng.choice(sources)))
        elif roll < 0.62:
            threads.append(new_id())
            bodies.append(ThreadStarted(thread=threads[-1], title=f"Q{len(threads)}"))
        elif roll < 0.8:
            thread = rng.choice(threads) if threads else new_id()
            message = new_id()
            bodies.append(MessagePosted(thread=thread, message=message, role="user", text="?"))
            if rng.random() < 0.1:  # a retried post that reached the log twice
                bodies.append(MessagePosted(thread=thread, message=message, role="user", text="?"))
        elif roll < 0.88:
            bodies.append(ChapterRenamed(title=f"Owls {len(bodies)}"))
        elif roll < 0.95:
            bodies.append(ShareGranted(share=new_id(), mode="copy", grantee="g@example.org"))
        else:
            granted = [b.share for b in bodies if isinstance(b, ShareGranted)]
            if granted:
                bodies.append(ShareRevoked(share=rng.choice(granted)))
    return bodies[:count]


async def _chapter(logs: Logs, count: int, seed: int = 1) -> Log:
    log = logs.chapter(new_id())
    await log.create()
    actors = ["ann", "proc:ingest"] * count
    await log.append_many(_life(count, seed), actor=actors[:count])
    return log


async def test_the_state_at_every_rev_is_a_fresh_fold(logs):
    log = await _chapter(logs, 60)
    snapshots = FoldSnapshots(every=EVERY)
    # Questions in a shuffled order: some start from a checkpoint, some build new ones, some
    # land exactly on a checkpoint or one either side of it.
    revs = list(range(61))
    random.Random(3).shuffle(revs)
    for rev in revs:
        assert await snapshots.at(log, rev) == await chapter_at_rev(log, rev), rev
    assert snapshots.checkpoints(log.id) == list(range(EVERY, 61, EVERY))
    # The chapter exercised every record kind the fold keeps.
    last = await snapshots.at(log, 60)
    assert last.threads and last.messages and last.shares
    assert {s.status for s in last.sources} >= {"pending", "removed"}


async def test_a_checkpoint_is_not_changed_by_the_folds_that_go_on_from_it(logs):
    log = await _chapter(logs, 40, seed=2)
    snapshots = FoldSnapshots(every=EVERY)
    early = await snapshots.at(log, 14)
    await snapshots.at(log, 40)  # goes on from the checkpoint at 14 and changes its records
    assert await snapshots.at(log, 14) == early == await chapter_at_rev(log, 14)
    fold = ChapterFold(log.id)
    copy = fold.copy()
    copy.sources["x"] = None  # type: ignore[assignment]
    assert "x" not in fold.sources


async def test_memory_is_bounded_oldest_chapter_first_then_by_thinning(logs):
    one, two = await _chapter(logs, 50, seed=4), await _chapter(logs, 50, seed=5)
    snapshots = FoldSnapshots(every=5)
    await snapshots.at(one, 50)
    records = sum(f.records for f in snapshots._chapters[one.id].folds)
    snapshots.max_records = records + 1  # room for one chapter's checkpoints, not two
    await snapshots.at(two, 50)
    assert snapshots.checkpoints(one.id) == [] and snapshots.checkpoints(two.id)
    # A budget smaller than one chapter's: every other checkpoint goes until it fits.
    snapshots.max_records = records // 3
    await snapshots.at(two, 33)
    kept = snapshots.checkpoints(two.id)
    assert 0 < len(kept) < 10 and sum(f.records for f in snapshots._chapters[two.id].folds) <= (
        records // 3
    )
    for rev in (1, 17, 33, 50):
        assert await snapshots.at(two, rev) == await chapter_at_rev(two, rev)


async def test_checkpoints_whose_hash_is_not_the_logs_are_dropped(logs):
    """A checkpoint is used only while the log still has its h[rev]: here another log's
    checkpoints stand in for those of a chapter whose stream was written again."""
    written, again = await _chapter(logs, 30, seed=6), await _chapter(logs, 30, seed=7)
    snapshots = FoldSnapshots(every=EVERY)
    await snapshots.at(written, 30)
    snapshots._chapters[again.id] = snapshots._chapters.pop(written.id)
    assert await snapshots.at(again, 30) == await chapter_at_rev(again, 30)
    assert snapshots.checkpoints(again.id) == [7, 14, 21, 28]


async def test_out_of_range_and_broken_logs_are_refused_as_before(logs):
    log = await _chapter(logs, 10, seed=8)
    snapshots = FoldSnapshots(every=EVERY)
    with pytest.raises(AuditRangeError):
        await snapshots.at(log, -1)
    with pytest.raises(AuditRangeError):
        await snapshots.at(log, 11)
    other = await _chapter(logs, 3, seed=9)
    with pytest.raises(AuditRangeError):
        await snapshots.at(other, 4)
    assert await snapshots.at(log, 0) == await chapter_at_rev(log, 0)
