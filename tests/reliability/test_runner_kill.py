"""kill -9 of the worker in the middle of ingesting 200 sources, twice: the read models still equal
a clean build, every source has one result in the log, and no chunk the cache held was embedded
again."""

import asyncio
import random
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.log import Log
from engine.server import EmbeddedServer
from projections.ingest import ChunkSizes, chunk_manifest
from tests.projections.pipeline_support import (
    WORDS,
    add_texts_at_once,
    digests,
    open_test_worker,
    rebuilt_digests,
    results,
)
from tests.reliability.runner_child import READY, read_record

ROOT = Path(__file__).resolve().parents[2]
SOURCES = 200
EMPTY = 6
"""Sources with no text: they end rejected, and count as settled like the others."""
EMBED_BATCH = 64
"""CachedEmbedder's batch: at most this many chunks can be embedded but not yet cached at a kill."""
PROJECTIONS = ("catalogue", "ingest", "vectors", "chat")


def corpus(seed: int = 7) -> list[str]:
    """200 texts of one to three chunks; some share a paragraph, a few are empty."""
    rng = random.Random(seed)
    shared = " ".join(rng.choice(WORDS) for _ in range(60)) + "."
    texts = []
    for i in range(SOURCES - EMPTY):
        paragraphs = [
            f"Document {i}, part {p}: " + " ".join(rng.choice(WORDS) for _ in range(45)) + "."
            for p in range(rng.randint(1, 3))
        ]
        if i % 10 == 0:  # the same paragraph in many sources: its chunk is embedded once
            paragraphs.append(shared)
        texts.append("\n\n".join(paragraphs))
    return texts + [""] * EMPTY


def chunk_hashes(texts: list[str]) -> set[str]:
    """Every distinct chunk that the sources' extraction will produce."""
    return {c.hash for t in texts for c in chunk_manifest(t, [], ChunkSizes())}


class Child:
    """The worker in a child process (tests/reliability/runner_child.py)."""

    def __init__(self, server: EmbeddedServer, data: Path, blobs: Path, record: Path) -> None:
        self.args = [
            sys.executable, "-m", "tests.reliability.runner_child",
            # `=` keeps a generated password that starts with "-" from reading as a flag.
            f"--url={server.url}", f"--user={server.user}", f"--password={server.password}",
            "--data", str(data), "--blobs", str(blobs), "--record", str(record),
        ]  # fmt: skip
        self.out = data.parent / f"{data.name}.out"
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
        assert self.proc is not None and self.proc.returncode is None, "the child died by itself"
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.proc = None

    async def stop(self) -> None:
        """Kill the child if it still runs (test teardown)."""
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()


def cached_chunks(data: Path) -> set[str]:
    """The chunk hashes in a (dead) child's embedding cache."""
    with sqlite3.connect(data / "embeddings.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT chunk FROM embeddings")}


def settled_in(data: Path, chapter: str, head: int) -> bool:
    """Whether a child's read models have folded `chapter` to `head` with no ingest work left."""
    with sqlite3.connect(f"file:{data / 'views.sqlite3'}?mode=ro", uri=True) as db:
        revs = dict(
            db.execute("SELECT projection, rev FROM checkpoints WHERE chapter = ?", (chapter,))
        )
        pending = db.execute(
            "SELECT count(*) FROM ingest_pending WHERE chapter = ?", (chapter,)
        ).fetchone()[0]
    return all(revs.get(p) == head for p in PROJECTIONS) and pending == 0


async def poll(condition, timeout: float = 180.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


@pytest.fixture
async def child(nats_server, tmp_path) -> AsyncIterator[Child]:
    """The worker child over this test's server, with read models in tmp_path/child."""
    child = Child(nats_server, tmp_path / "child", tmp_path / "blobs", tmp_path / "embedded.txt")
    yield child
    await child.stop()


async def test_a_worker_killed_twice_mid_ingest_ends_equal_to_a_clean_build(
    child, logs, blobs, chapter, tmp_path, local_embedder
):
    log = logs.chapter(chapter)
    texts = corpus()
    expected_chunks = chunk_hashes(texts)

    # 200 sources added in bulk: bytes first, then one batch of SourceAdded.
    added = await add_texts_at_once(log, blobs, {f"doc-{i:03}.txt": t for i, t in enumerate(texts)})

    data, record = tmp_path / "child", tmp_path / "embedded.txt"

    # Run 1: killed when about a third of the sources have their result in the log.
    await child.start()
    await poll(lambda: _at_least(log, SOURCES // 3))
    await child.kill()
    after_first = await results(log)
    assert 0 < sum(after_first.values()) < SOURCES, "the kill did not land mid-ingest"
    run1 = read_record(record)
    lost1 = set(run1) - cached_chunks(data)

    # Run 2: killed when about half the chunks have been embedded.
    await child.start()
    await poll(lambda: _embedded_at_least(record, len(expected_chunks) // 2))
    await child.kill()
    run12 = read_record(record)
    assert len(run12) < len(expected_chunks), "the second kill did not land mid-embedding"
    lost2 = set(run12) - cached_chunks(data)

    # Run 3: left to finish.
    await child.start()

    async def settled() -> bool:
        head = (await log.head()).rev
        return len(await results(log)) == SOURCES and settled_in(data, chapter, head)

    await poll(settled)
    await child.kill()

    # Each source has exactly one result: no kill made ingest append a fact twice.
    final = await results(log)
    assert set(final) == {a.source for a in added}
    assert set(final.values()) == {1}, {s: n for s, n in final.items() if n != 1}

    # Every chunk was embedded once; only chunks a kill caught between the embedder and the
    # cache (at most one batch per kill) may have been embedded again, and then only once more.
    everything = read_record(record)
    assert set(everything) == expected_chunks
    again = Counter(everything) - Counter(set(everything))
    assert set(again) <= (lost1 | lost2), set(again) - (lost1 | lost2)
    assert len(lost1) <= EMBED_BATCH and len(lost2) <= EMBED_BATCH
    assert all(n == 1 for n in again.values())

    # The survivor's read models equal a clean build's, made from the same log and blobs.
    survivor = await open_test_worker(data, logs, blobs, local_embedder)
    try:
        survivor_digests = await digests(survivor, chapter)
        assert await survivor.index.count(chapter) == len(
            {(a.source, h) for a, t in zip(added, texts, strict=True) for h in chunk_hashes([t])}
        )
    finally:
        await survivor.close()
    clean = tmp_path / "clean"
    assert (
        await rebuilt_digests(clean, logs, blobs, local_embedder, chapter, 300) == survivor_digests
    )
    assert await results(log) == final  # the clean build appended nothing


async def _at_least(log: Log, n: int) -> bool:
    return sum((await results(log)).values()) >= n


async def _embedded_at_least(record: Path, n: int) -> bool:
    return len(read_record(record)) >= n
