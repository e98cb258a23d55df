"""Fixtures and helpers for tests that run the read side over real logs (importable helpers)."""

import asyncio
from pathlib import Path

from app.readside import ReadSide, open_read_side
from app.settings import Settings, load_settings
from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.log import Logs
from engine.sources import add_source


def settings_for(data: Path) -> Settings:
    """Settings for a test: everything embedded under `data`, extractive answers."""
    return load_settings(
        environ={},
        data_dir=str(data),
        llm={"kind": "extractive"},
    )


async def new_chapter(books: Books, owner: str = "u-owner") -> str:
    """A fresh book with one chapter; returns the chapter id."""
    book = await books.create_book(owner, f"{owner}@example.org", "Test book")
    entry = await books.create_chapter(owner, book.id, "Test chapter")
    return entry.id


async def open_test_worker(
    data: Path, logs: Logs, blobs: LocalBlobStore, embedder: object
) -> ReadSide:
    """A worker over `logs` with its read models under `data`."""
    return await open_read_side(
        settings_for(data), logs, blobs, embedder=embedder, use_llm_settings=False
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
