"""Workers that share chapters through leases (issue 12, part 2), as real child processes over a
real nats-server, one shared data directory and a Chroma server:

- two workers over 200 chapters: every chapter folded, by one of them at a time, every rev
  applied once; one killed -9, the other folds its chapters within 10 s;
- a worker killed -9 in the middle of projecting sources: nothing lost, nothing applied twice,
  one ingest result per source, and the read models equal a clean rebuild;
- a gateway-only process never folds, and answers read-your-writes once a worker runs.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from app.readside import open_read_side
from app.services import open_services
from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.jetstream.checkpoints import PublishedCheckpoints
from engine.jetstream.leases import ChapterLeases
from engine.log import Logs
from engine.nats import NATS
from engine.server import EmbeddedServer
from events import ChapterRenamed, MessagePosted, ThreadStarted
from tests.projections.pipeline_support import (
    add_texts_at_once,
    digests,
    open_test_worker,
    results,
    settle,
)
from tests.reliability.worker_child import READY, worker_settings

ROOT = Path(__file__).resolve().parents[2]
TTL = 3.0
"""The children's lease lifetime: a dead worker's chapters are free 3 s after its last renewal."""
TAKEOVER_S = 10.0
PER_CHAPTER = 40
"""Sources per chapter in the kill-mid-projection test (12 chapters)."""
FOLDING = ("catalogue", "ingest", "vectors", "chat", "tree", "trace")


class Worker:
    """A worker child (tests/reliability/worker_child.py)."""

    def __init__(
        self,
        name: str,
        server: EmbeddedServer,
        data: Path,
        blobs: Path | str,
        chroma: str,
        *,
        views: str | None = None,
    ) -> None:
        self.name = name
        self.args = [
            sys.executable, "-m", "tests.reliability.worker_child", "--name", name,
            f"--url={server.url}", f"--user={server.user}", f"--password={server.password}",
            "--data", str(data), "--blobs", str(blobs), "--chroma", chroma, "--ttl", str(TTL),
            *(("--views", views) if views else ()),
        ]  # fmt: skip
        self.out = data.parent / f"{name}.out"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.out.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args, cwd=ROOT, stdout=out, stderr=out
            )
        async with asyncio.timeout(120):
            while READY not in self.out.read_text(errors="replace"):
                assert self.proc.returncode is None, self.out.read_text(errors="replace")[-3000:]
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.proc is not None and self.proc.returncode is None, self.log()
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.out.read_text(errors="replace")[-3000:]


@pytest.fixture
async def workers(nats_server, tmp_path, chroma_server) -> AsyncIterator[Callable[[str], Worker]]:
    """Make workers over this test's server, sharing tmp_path/data; all killed at the end."""
    made: list[Worker] = []

    def make(name: str) -> Worker:
        worker = Worker(name, nats_server, tmp_path / "data", tmp_path / "blobs", chroma_server)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        if worker.proc is not None and worker.proc.returncode is None:
            await worker.kill()


async def many_chapters(logs: Logs, n: int) -> list[str]:
    """`n` chapters of one book, each with a few events of its own."""
    books = Books(logs)
    await books.start()
    try:
        book = await books.create_book("u-owner", "owner@example.org", "Shared")
        chapters = [(await books.create_chapter("u-owner", book.id, f"c{i}")).id for i in range(n)]
    finally:
        await books.stop()
    for i, chapter in enumerate(chapters):
        await logs.chapter(chapter).append_many(
            [
                ChapterRenamed(title=f"chapter {i}"),
                ThreadStarted(thread="t1", title="a thread"),
                MessagePosted(thread="t1", message="m1", role="user", text=f"hello {i}"),
            ],
            actor="u-owner",
        )
    return chapters


async def until(condition: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.1)
    return time.monotonic() - started


async def published_at(
    published: PublishedCheckpoints, heads: dict[str, int], names: tuple[str, ...] = FOLDING
) -> set[str]:
    """The chapters whose published positions reached `heads` for every projection in `names`."""
    done = set()
    for chapter, head in heads.items():
        positions = await published.positions(chapter)
        if all(positions.get(name, 0) >= head for name in names):
            done.add(chapter)
    return done


def trace(data: Path) -> list[tuple[str, int, str, float, float]]:
    with sqlite3.connect(f"file:{data / 'views.sqlite3'}?mode=ro", uri=True) as db:
        return list(db.execute("SELECT chapter, rev, worker, started, ended FROM trace"))


def check_trace(data: Path, heads: dict[str, int]) -> dict[str, set[str]]:
    """Every rev of every chapter applied exactly once; no two workers folding one chapter at
    the same moment. Returns which workers folded each chapter."""
    rows = trace(data)
    seen: dict[tuple[str, int], int] = {}
    for chapter, rev, *_ in rows:
        seen[(chapter, rev)] = seen.get((chapter, rev), 0) + 1
    twice = {key: n for key, n in seen.items() if n != 1}
    assert not twice, f"applied more than once: {list(twice.items())[:10]}"
    missing = [
        (c, r) for c, head in heads.items() for r in range(1, head + 1) if (c, r) not in seen
    ]
    assert not missing, f"never applied: {missing[:10]}"
    batches: dict[str, dict[tuple[str, float, float], None]] = {}
    for chapter, _, worker, started, ended in rows:
        batches.setdefault(chapter, {})[(worker, started, ended)] = None
    folders: dict[str, set[str]] = {}
    for chapter, spans in batches.items():
        ordered = sorted(spans, key=lambda span: span[1])
        folders[chapter] = {w for w, _, _ in ordered}
        for (w1, _, end1), (w2, start2, _) in itertools.pairwise(ordered):
            assert w1 == w2 or start2 >= end1, f"{chapter}: {w1} and {w2} folded it at once"
    return folders


async def test_two_workers_share_200_chapters_and_one_takes_over_when_the_other_dies(
    workers, logs, nc: NATS, tmp_path
):
    chapters = await many_chapters(logs, 200)
    heads = {c: (await logs.chapter(c).head()).rev for c in chapters}
    published = await PublishedCheckpoints.open(nc)
    leases = await ChapterLeases.open(nc, "observer", ttl=TTL)
    one, two = workers("w1"), workers("w2")
    await one.start()
    await two.start()

    async def all_folded() -> bool:
        return len(await published_at(published, heads)) == len(heads)

    await until(all_folded, 120)
    # Shared: w1, started first, took every chapter; it hands half over to w2 within rounds
    # (the fair share is ceil(200 / 2)).
    holders: dict[str, str | None] = {}

    async def shared() -> bool:
        holders.update({c: await leases.holder(c) for c in chapters})
        return sum(h == "w1" for h in holders.values()) == 100 and all(holders.values())

    await until(shared, 60)
    held_by_one = {c for c, h in holders.items() if h == "w1"}
    await until(all_folded, 60)

    # w1 dies. A new event in every chapter: w2 folds all 200, w1's included, within 10 s.
    await one.kill()
    killed = time.monotonic()
    for chapter in chapters:
        heads[chapter] = (
            await logs.chapter(chapter).append(ChapterRenamed(title="after"), actor="u-owner")
        ).rev
    try:
        await until(all_folded, TAKEOVER_S + 60)  # bounded loosely here, measured just below
    except TimeoutError:
        now = {c: await leases.holder(c) for c in chapters}
        raise AssertionError(
            f"holders after the kill: {sorted(now.values(), key=str)[:5]}, "
            f"{sum(h == 'w2' for h in now.values())} held by w2; {two.log()}"
        ) from None
    took = time.monotonic() - killed
    assert took <= TAKEOVER_S, f"w2 folded w1's chapters {took:.1f} s after the kill"
    assert all([await leases.holder(c) == "w2" for c in chapters])

    folders = check_trace(tmp_path / "data", heads)
    moved = {c for c in held_by_one if folders[c] == {"w1", "w2"}}
    assert moved, "no chapter of w1's was taken over by w2"
    assert all("w2" in folders[c] for c in chapters)  # each chapter's last events, at least


def corpus(n: int) -> dict[str, str]:
    """`n` short distinct texts of one or two chunks."""
    words = ["owl", "heron", "kestrel", "wren", "finch", "lark", "swift", "rook", "crow", "jay"]
    return {
        f"doc-{i:03}.txt": "\n\n".join(
            f"Note {i}.{p}: " + " ".join(words[(i * 7 + p + k) % len(words)] for k in range(60))
            for p in range(1 + i % 2)
        )
        for i in range(n)
    }


async def test_a_worker_killed_mid_projection_loses_nothing_and_applies_nothing_twice(
    workers, logs, nc: NATS, tmp_path, local_embedder, nats_server, chroma_server
):
    blobs = LocalBlobStore(tmp_path / "blobs")
    chapters = await many_chapters(logs, 12)
    added = {}
    for i, chapter in enumerate(chapters):
        texts = corpus(PER_CHAPTER)
        added[chapter] = await add_texts_at_once(
            logs.chapter(chapter), blobs, {f"{i}-{name}": t for name, t in texts.items()}
        )
    published = await PublishedCheckpoints.open(nc)
    one, two = workers("w1"), workers("w2")
    await one.start()
    await two.start()

    async def started() -> bool:  # the first ingest result of the workers' in any chapter
        return any([(await logs.chapter(c).head()).rev > 4 + PER_CHAPTER for c in chapters])

    await until(started, 120)
    await one.kill()  # mid-projection: ingest and vectors are busy in both workers
    heads_at_kill = {c: (await logs.chapter(c).head()).rev for c in chapters}
    at_kill = await published_at(published, heads_at_kill)
    # Mid-projection: events not yet folded, or sources whose ingest result is still to come
    # (the folds are fast enough that every appended event may be folded at that instant).
    extracted = sum([len(await results(logs.chapter(c))) for c in chapters])
    assert len(at_kill) < len(chapters) or extracted < len(chapters) * PER_CHAPTER, (
        "the kill came after all the work was done"
    )
    three = workers("w3")
    await three.start()  # a replacement joins; w2 and w3 share what w1 held

    async def finished() -> bool:
        for chapter in chapters:
            log = logs.chapter(chapter)
            if len(await results(log)) < len(added[chapter]):
                return False
            head = (await log.head()).rev
            if len(await published_at(published, {chapter: head})) != 1:
                return False
        return True

    await until(finished, 180)
    await two.kill()
    await three.kill()

    # One result per source in the log; every rev folded once by the workers together.
    heads = {}
    for chapter in chapters:
        log = logs.chapter(chapter)
        found = await results(log)
        assert set(found) == {a.source for a in added[chapter]}
        assert set(found.values()) == {1}, {s: n for s, n in found.items() if n != 1}
        heads[chapter] = (await log.head()).rev
    check_trace(tmp_path / "data", heads)

    # The shared read models equal a clean build from the same log.
    settings = worker_settings(
        tmp_path / "data", nats_server.url, nats_server.user, nats_server.password, chroma_server
    )  # the workers' read models: SQLite in the shared directory, vectors in the Chroma server
    shared = await open_read_side(
        settings, logs, blobs, embedder=local_embedder, use_llm_settings=False
    )
    clean = await open_test_worker(tmp_path / "clean", logs, blobs, local_embedder)
    try:
        await clean.runner.start(discover=False)
        for chapter in chapters:
            clean.runner.watch(chapter)
        for chapter in chapters:
            await settle(clean, chapter, timeout=120)
            assert await digests(shared, chapter) == await digests(clean, chapter), chapter
    finally:
        await shared.close()
        await clean.close()
    # The clean build appended nothing: the results in the log are still one per source.
    after = [await results(logs.chapter(c)) for c in chapters]
    assert sum(sum(found.values()) for found in after) == len(chapters) * PER_CHAPTER


async def test_a_gateway_never_folds_and_reads_its_writes_once_a_worker_runs(
    workers, nats_server, logs, tmp_path, chroma_server
):
    settings = worker_settings(
        tmp_path / "data", nats_server.url, nats_server.user, nats_server.password, chroma_server
    )
    gateway = await open_services(settings, role="gateway")
    try:
        assert gateway.heads is None and gateway.mirrors is None
        (chapter,) = await many_chapters(logs, 1)
        head = (await logs.chapter(chapter).head()).rev
        # No worker yet: nothing folds the chapter, and the gateway does not either.
        assert not await gateway.read.settle(chapter, head, ["catalogue"], within=3.0)
        assert gateway.read.runner.folding() == set()
        assert await gateway.read.catalogue.load_checkpoint(chapter) is None

        worker = workers("w1")
        await worker.start()
        # Read-your-writes: the gateway waits on the checkpoint the worker publishes.
        rev = (await logs.chapter(chapter).append(ChapterRenamed(title="x"), actor="u")).rev
        assert await gateway.read.settle(chapter, rev, ["catalogue", "chat"], within=60.0)
        assert await gateway.read.catalogue.load_checkpoint(chapter) == (
            rev,
            gateway.read.catalogue.version,
        )
        assert gateway.read.runner.folding() == set()
        assert await gateway.settled(chapter) == rev
    finally:
        await gateway.close()
