"""Fixtures for the read side: logs on the session's nats-server, blobs, the views database, a
running worker."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.log import Logs
from engine.nats import NATS
from projections.store import Views
from tests.projections.pipeline_support import open_test_worker


@pytest.fixture
async def logs(shared_nc: NATS) -> AsyncIterator[Logs]:
    async with Logs(shared_nc) as logs:
        yield logs


@pytest.fixture
async def books(logs: Logs) -> AsyncIterator[Books]:
    books = Books(logs)
    await books.start()
    yield books
    await books.stop()


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
async def views(tmp_path: Path) -> AsyncIterator[Views]:
    """The read models' SQLite database, in tmp_path."""
    opened = await Views.open(tmp_path / "views.db")
    yield opened
    await opened.close()


@pytest.fixture
async def worker(tmp_path: Path, logs: Logs, blobs: LocalBlobStore, local_embedder: object):
    """A running worker (runner, read models, ingest) over `logs`, its data under tmp_path."""
    worker = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder)
    await worker.runner.start()
    yield worker
    await worker.close()
