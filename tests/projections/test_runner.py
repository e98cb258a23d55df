"""The projection runner over real chapter logs: wait, lag, errors, retries from checkpoints,
idle work only when caught up, and a version bump that rebuilds from rev 1."""

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from engine.books import Books
from engine.log import Log, Logs
from engine.sources import add_source, retag_source
from events import ChapterRenamed, ChunkRef, Envelope, SourceExtracted, SourceRejected, new_id
from projections.catalogue import Catalogue
from projections.runner import LogSource, Runner
from projections.store import Views
from tests.projections.pipeline_support import new_chapter


class Recorder:
    """A projection in memory that records the revs it applied and can be told to misbehave."""

    version = 1

    def __init__(self, name: str, *, fail_once_at: int | None = None) -> None:
        self.name = name
        self.checkpoint: tuple[int, int] | None = None
        self.applied: list[int] = []
        self.fail_once_at = fail_once_at
        self.failed = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.holding: list[int] = []
        self.held = asyncio.Event()

    async def load_checkpoint(self, chapter: str) -> tuple[int, int] | None:
        return self.checkpoint

    async def reset(self, chapter: str) -> None:
        self.checkpoint = None
        self.applied.clear()

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        revs = [e.rev for e in events]
        if self.gate is not None:
            self.holding = revs
            self.held.set()
            await self.gate.wait()
        if self.fail_once_at is not None and not self.failed.is_set() and self.fail_once_at in revs:
            self.failed.set()
            raise RuntimeError("the disk was briefly full")
        self.applied.extend(revs)
        self.checkpoint = (revs[-1], self.version)

    async def idle(self, chapter: str) -> None:
        return None


@pytest.fixture
async def log(logs: Logs) -> Log:
    log = logs.chapter(new_id())
    await log.create()
    return log


async def rename(log: Log, count: int) -> int:
    """Append `count` renames; returns the head rev."""
    stored = await log.append_many(
        [ChapterRenamed(title=f"title {i}") for i in range(count)], actor="u-owner"
    )
    return stored[-1].rev


@pytest.fixture
async def runner_of(logs: Logs) -> AsyncIterator:
    runners: list[Runner] = []

    def make(*projections, **options) -> Runner:
        runner = Runner(LogSource(logs), projections, retry_delay=0.2, **options)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        await runner.stop()


async def test_wait_returns_once_every_projection_has_applied_the_rev(log, runner_of):
    head = await rename(log, 5)
    first, second = Recorder("first"), Recorder("second")
    runner = runner_of(first, second)
    async with asyncio.timeout(30):
        await runner.wait(log.id, head)  # wait() also starts following the chapter
    assert first.applied == second.applied == [1, 2, 3, 4, 5]
    assert runner.positions(log.id) == {"first": 5, "second": 5}

    # A wait for a rev not yet written returns once it is written and applied (read your write).
    waiting = asyncio.create_task(runner.wait(log.id, head + 1, projections=["second"]))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await rename(log, 1)
    async with asyncio.timeout(30):
        await waiting
    assert second.applied[-1] == head + 1


async def test_lag_counts_revs_received_but_not_yet_applied(log, runner_of):
    head = await rename(log, 8)
    slow = Recorder("slow")
    slow.gate = asyncio.Event()
    runner = runner_of(slow)
    runner.watch(log.id)
    async with asyncio.timeout(30):
        await slow.held.wait()
    # The batch in hand has been received, none of it applied.
    assert runner.lag() == {log.id: slow.holding[-1]}
    slow.gate.set()
    async with asyncio.timeout(30):
        await runner.wait(log.id, head)
    assert runner.lag() == {log.id: 0}
    assert slow.applied == list(range(1, head + 1))


async def test_a_failing_projection_is_retried_from_its_checkpoint_and_nothing_is_applied_twice(
    log, runner_of
):
    head = await rename(log, 12)
    steady, flaky = Recorder("steady"), Recorder("flaky", fail_once_at=7)
    runner = runner_of(steady, flaky, batch_size=3)
    runner.watch(log.id)
    async with asyncio.timeout(30):
        await flaky.failed.wait()
        while log.id not in runner.errors():
            await asyncio.sleep(0.01)
    assert runner.errors()[log.id] == "RuntimeError: the disk was briefly full"

    async with asyncio.timeout(30):
        await runner.wait(log.id, head)
    # The failed batch was applied once, after the retry; the steady projection, which had
    # applied its part of that batch already, got nothing twice.
    assert flaky.applied == steady.applied == list(range(1, head + 1))
    assert runner.errors() == {}


async def test_a_failing_projection_holds_back_only_its_own_chapter(logs, runner_of):
    broken, fine = logs.chapter(new_id()), logs.chapter(new_id())
    for log in (broken, fine):
        await log.create()
    await rename(broken, 3)
    head = await rename(fine, 3)

    class FailsOnOneChapter(Recorder):
        async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
            if chapter == broken.id:
                raise RuntimeError("this chapter's store is offline")
            self.applied.extend(e.rev for e in events)

    projection = FailsOnOneChapter("picky")
    runner = runner_of(projection)
    runner.watch(broken.id)
    async with asyncio.timeout(30):
        await runner.wait(fine.id, head)
        while broken.id not in runner.errors():
            await asyncio.sleep(0.01)
    assert projection.applied == [1, 2, 3]
    assert runner.positions(broken.id) == {"picky": 0}
    assert runner.lag()[broken.id] > 0


class Answerer:
    """Like ingest: folding records questions, `idle` appends an answer to each pending one."""

    name = "answerer"
    version = 1

    def __init__(self, log: Log) -> None:
        self.log = log
        self.checkpoint: tuple[int, int] | None = None
        self.pending: set[str] = set()

    async def load_checkpoint(self, chapter: str) -> tuple[int, int] | None:
        return self.checkpoint

    async def reset(self, chapter: str) -> None:
        self.checkpoint, self.pending = None, set()

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        for e in events:
            assert isinstance(e.body, ChapterRenamed)
            kind, _, key = e.body.title.partition(":")
            if kind == "q":
                self.pending.add(key)
            elif kind == "a":
                self.pending.discard(key)
        self.checkpoint = (events[-1].rev, self.version)

    async def idle(self, chapter: str) -> None:
        for key in sorted(self.pending):
            await self.log.append(ChapterRenamed(title=f"a:{key}"), actor="proc:answerer")


async def answers(log: Log) -> list[str]:
    titles = [r.envelope.body.title async for r in log.read()]  # type: ignore[union-attr]
    return sorted(t for t in titles if t.startswith("a:"))


async def test_idle_work_waits_until_the_results_already_in_the_log_are_folded(log, runner_of):
    # As after a crash: the projection folded two questions, then its idle appended both
    # answers, and the process died before folding them.
    await log.append_many([ChapterRenamed(title=f"q:{k}") for k in "xy"], actor="u")
    await log.append_many([ChapterRenamed(title=f"a:{k}") for k in "xy"], actor="proc:answerer")
    answerer = Answerer(log)
    answerer.checkpoint, answerer.pending = (2, 1), {"x", "y"}

    runner = runner_of(answerer)
    async with asyncio.timeout(30):
        await runner.wait(log.id, 4)
        # New questions are answered by the restarted projection, once each.
        stored = await log.append_many([ChapterRenamed(title=f"q:{k}") for k in "zw"], actor="u")
        await runner.wait(log.id, stored[-1].rev + 2)
    assert await answers(log) == ["a:w", "a:x", "a:y", "a:z"]
    assert answerer.pending == set()


async def test_many_questions_in_bulk_are_answered_exactly_once(log, runner_of):
    keys = [f"k{i:03}" for i in range(150)]
    answerer = Answerer(log)
    runner = runner_of(answerer, batch_size=16)
    runner.watch(log.id)
    for start in range(0, len(keys), 50):
        await log.append_many(
            [ChapterRenamed(title=f"q:{k}") for k in keys[start : start + 50]], actor="u"
        )
    async with asyncio.timeout(60):
        while len(await answers(log)) < len(keys) or answerer.pending:
            await asyncio.sleep(0.05)
        await runner.wait(log.id, (await log.head()).rev)
    assert await answers(log) == sorted(f"a:{k}" for k in keys)


def test_projection_names_must_be_unique(logs):
    with pytest.raises(ValueError, match="unique"):
        Runner(LogSource(logs), [Recorder("same"), Recorder("same")])


class RecordingCatalogue(Catalogue):
    """The catalogue, noting the revs it is fed."""

    def __init__(self, views: Views) -> None:
        super().__init__(views)
        self.fed: list[int] = []

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        self.fed.extend(e.rev for e in events)
        await super().apply(chapter, events)


def test_a_subclass_of_a_projection_keeps_its_handlers():
    assert RecordingCatalogue._handlers == Catalogue._handlers
    assert SourceRejected in Catalogue._handlers


async def test_a_version_bump_rebuilds_the_catalogue_from_rev_one_to_the_same_digest(
    logs, books: Books, blobs, tmp_path, runner_of
):
    chapter = await new_chapter(books)
    log = logs.chapter(chapter)
    kept = await add_source(log, blobs, actor="u", name="kept.txt", data=b"kept text")
    bad = await add_source(log, blobs, actor="u", name="bad.pdf", data=b"%PDF-1.7 trunc")
    text_blob = await blobs.put(b"kept text")
    await log.append(
        SourceExtracted(
            source=kept.source,
            text_blob=text_blob,
            extractor="text",
            extractor_version="1",
            media_type="text/plain",
            chunks=[ChunkRef(hash="0" * 64, start=0, end=9)],
        ),
        actor="proc:ingest",
    )
    await log.append(
        SourceRejected(source=bad.source, code="corrupt", message="bad.pdf is cut short"),
        actor="proc:ingest",
    )
    await retag_source(log, actor="u", source=kept.source, tags=["keep", "a"])
    head = (await log.head()).rev

    views = await Views.open(tmp_path / "views.sqlite3")
    try:
        live = Catalogue(views)
        await live.open()
        async with asyncio.timeout(30):
            await runner_of(live).wait(chapter, head)
        digest = await live.digest(chapter)
        # A row the log does not have, as an older version might have left, must not survive.
        async with views.transaction() as db:
            await db.execute(
                "INSERT INTO catalogue_sources (chapter, source, name, media_type, size, blob, "
                "origin, status, tags, rev, added_rev) "
                "VALUES (?, 'stale', 'stale.txt', 'text/plain', 1, ?, 'upload', 'pending', "
                "'[]', 99, 99)",
                (chapter, text_blob),
            )
        assert await live.digest(chapter) != digest

        bumped = RecordingCatalogue(views)
        bumped.version = live.version + 1
        async with asyncio.timeout(30):
            await runner_of(bumped).wait(chapter, head)
        assert bumped.fed == list(range(1, head + 1))
        assert await bumped.load_checkpoint(chapter) == (head, live.version + 1)
        assert await bumped.digest(chapter) == digest
        statuses = {s.name: (s.status, s.tags) for s in await bumped.sources(chapter)}
        assert statuses == {"kept.txt": ("extracted", ["a", "keep"]), "bad.pdf": ("rejected", [])}

        # The same version again resumes from the checkpoint: nothing is re-fed.
        again = RecordingCatalogue(views)
        again.version = live.version + 1
        runner = runner_of(again)
        async with asyncio.timeout(30):
            await runner.wait(chapter, head)
        assert again.fed == []
    finally:
        await views.close()
