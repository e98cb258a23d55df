"""What the reliability tests share: logs on this test's own nats-server (they kill or crash it),
a blob store, a chapter to fill, and a three-node cluster of the test's own."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.log import Logs
from engine.nats import NATS
from engine.server_cluster import LocalCluster
from tests.projections.pipeline_support import new_chapter
from tests.projections.vectorstores.conftest import chroma_server  # noqa: F401  (a fixture)


@pytest.fixture
async def logs(nc: NATS) -> AsyncIterator[Logs]:
    async with Logs(nc) as logs:
        yield logs


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
async def chapter(logs: Logs) -> str:
    """A new chapter of a new book (the book's log closed again)."""
    books = Books(logs)
    await books.start()
    try:
        return await new_chapter(books)
    finally:
        await books.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A three-node JetStream cluster of this test's own (loopback, fsync before every ack)."""
    local = LocalCluster(tmp_path / "cluster", 3)
    asyncio.run(local.start())
    try:
        yield local
    finally:
        local.stop_sync()
