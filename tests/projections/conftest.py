"""Fixtures for the read side: logs on the session's nats-server, blobs, the views database, a
running worker.

The views live in SQLite unless a test is parametrized over `backend`
(`@pytest.mark.parametrize("backend", BACKENDS)`): then `views`, `worker` and `views_url` put
them in PostgreSQL as well, in a schema of the test's own.
"""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.log import Logs
from engine.nats import NATS
from projections.store import Views, open_views
from tests.projections.pipeline_support import in_schema, open_test_worker
from tests.requirements import PostgresServer, schema_of_its_own


@pytest.fixture
def backend() -> str:
    """Where the views live: "sqlite", or "postgresql" where a test is parametrized so."""
    return "sqlite"


@pytest.fixture
def views_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """The `views` setting for `backend`: None (SQLite), or a PostgreSQL URL whose tables go in
    this test's own schema."""
    if backend == "sqlite":
        return None
    return in_schema(request.getfixturevalue("pg_schema"))


@pytest.fixture
def other_views_url(request: pytest.FixtureRequest, backend: str) -> Iterator[str | None]:
    """A second, empty views database for `backend` (a rebuild's): None, or another schema."""
    if backend == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    admin: psycopg.Connection = request.getfixturevalue("postgres_admin")
    yield from (in_schema(schema) for schema in schema_of_its_own(admin, server.url))


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
async def views(tmp_path: Path, views_url: str | None) -> AsyncIterator[Views]:
    """The read models' database: SQLite in tmp_path (or PostgreSQL, see `backend`)."""
    opened = await open_views(views_url, tmp_path / "views.db")
    yield opened  # type: ignore[misc]  # PostgresViews has Views' interface
    await opened.close()


@pytest.fixture
async def worker(
    backend: str,
    tmp_path: Path,
    logs: Logs,
    blobs: LocalBlobStore,
    local_embedder: object,
    views_url: str | None,
):
    """A running worker (runner, read models, ingest) over `logs`, its data under tmp_path."""
    worker = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder, views=views_url)
    await worker.runner.start()
    yield worker
    await worker.close()
