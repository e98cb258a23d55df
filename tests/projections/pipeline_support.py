"""Fixtures and helpers for tests that run the read side over real logs (importable helpers)."""

import asyncio
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from app.readside import ReadSide, open_read_side
from app.settings import Settings, load_settings
from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.log import Log, Logs
from engine.sources import add_source
from events import SourceAdded, SourceExtracted, SourceRejected, new_id
from tests.requirements import PostgresSchema

BACKENDS = ["sqlite", "postgresql"]
"""The views backends a test parametrized over `backend` runs on (tests/projections/conftest.py)."""

WORDS = [
    "river",
    "stone",
    "lantern",
    "harvest",
    "meadow",
    "copper",
    "signal",
    "orchard",
    "harbour",
    "ledger",
    "quarry",
    "beacon",
    "thistle",
    "granite",
    "compass",
    "saddle",
    "willow",
    "ember",
    "falcon",
    "tundra",
    "glacier",
    "pebble",
    "lattice",
    "cobalt",
]
"""A vocabulary for generated prose: plain words, each its own token."""


def settings_for(data: Path, *, views: str | None = None) -> Settings:
    """Settings for a test: everything embedded under `data` (the views too, unless `views` names
    PostgreSQL), extractive answers."""
    return load_settings(
        environ={},
        data_dir=str(data),
        llm={"kind": "extractive"},
        views=views,
    )


def in_schema(schema: PostgresSchema) -> str:
    """A `views` URL whose connections search (and create tables in) `schema` only, as a
    deployment keeping the read models in a schema of their own would write it."""
    parts = urlsplit(schema.url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={schema.name}")]
    return parts._replace(query=urlencode(query)).geturl()


async def new_chapter(books: Books, owner: str = "u-owner") -> str:
    """A fresh book with one chapter; returns the chapter id."""
    book = await books.create_book(owner, f"{owner}@example.org", "Test book")
    entry = await books.create_chapter(owner, book.id, "Test chapter")
    return entry.id


async def open_test_worker(
    data: Path, logs: Logs, blobs: LocalBlobStore, embedder: object, *, views: str | None = None
) -> ReadSide:
    """A worker over `logs` with its read models under `data` (or in PostgreSQL at `views`)."""
    return await open_read_side(
        settings_for(data, views=views), logs, blobs, embedder=embedder, use_llm_settings=False
    )


async def add_text(logs: Logs, blobs: LocalBlobStore, chapter: str, name: str, text: str) -> str:
    """Add a text source; returns its id."""
    body = await add_source(
        logs.chapter(chapter), blobs, actor="u-owner", name=name, data=text.encode()
    )
    return body.source


async def settle(worker: ReadSide, chapter: str, timeout: float = 120.0) -> None:
    """Wait until every projection has folded the chapter to its head and ingest has no work."""
    async with asyncio.timeout(timeout):
        while True:
            head = (await worker.logs.chapter(chapter).head()).rev
            await worker.runner.wait(chapter, head)
            idle = not await worker.ingest.pending(chapter)
            if idle and (await worker.logs.chapter(chapter).head()).rev == head:
                return
            await asyncio.sleep(0.05)


async def add_texts_at_once(
    log: Log, blobs: LocalBlobStore, texts: dict[str, str]
) -> list[SourceAdded]:
    """Text sources (name: text) in bulk: the bytes first, then one batch of SourceAdded."""
    added = []
    for name, text in texts.items():
        data = text.encode()
        blob = await blobs.put(data)
        added.append(
            SourceAdded(
                source=new_id(), name=name, media_type="text/plain", blob=blob, size=len(data)
            )
        )
    await log.append_many(added, actor="u-owner")
    return added


async def results(log: Log) -> Counter[str]:
    """How many results (SourceExtracted or SourceRejected) each source has in the log."""
    found: Counter[str] = Counter()
    async for recorded in log.read():
        body = recorded.envelope.body
        if isinstance(body, SourceExtracted | SourceRejected):
            found[body.source] += 1
    return found


async def digests(worker: ReadSide, chapter: str) -> tuple[str, str]:
    """The chapter's catalogue and vectors digests: equal digests, equal read models."""
    return await worker.catalogue.digest(chapter), await worker.vectors.digest(chapter)


async def rebuilt_digests(
    data: Path,
    logs: Logs,
    blobs: LocalBlobStore,
    embedder: object,
    chapter: str,
    timeout: float,
    *,
    views: str | None = None,
) -> tuple[str, str]:
    """`digests` of a clean build of the chapter from its log, by a fresh worker under `data`
    (its views at `views`, empty)."""
    rebuilt = await open_test_worker(data, logs, blobs, embedder, views=views)
    try:
        await rebuilt.runner.start(discover=False)
        rebuilt.runner.watch(chapter)
        await settle(rebuilt, chapter, timeout=timeout)
        return await digests(rebuilt, chapter)
    finally:
        await rebuilt.close()
