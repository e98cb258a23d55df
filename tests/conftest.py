"""Shared fixtures: a real nats-server per test, chained `nats_store_dir → nats_server → nc → js`.

The server fixtures are synchronous (the child process does not belong to any event loop), so a
session-scoped server can serve tests that each run in their own loop. A test that kills or
restarts its server uses the function-scoped `nats_server`; others may share `shared_nats_server`
(use fresh chapter ids: `events.new_id()`).

PostgreSQL comes from `RAGSTACK_TEST_POSTGRES_URL` (tests/requirements.py): `postgres` is the
server, checked once per session, and `pg_schema` a schema of one test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from engine.nats import NATS, JetStreamContext, open_nats
from engine.server import EmbeddedServer
from projections.providers.local_embedder import LocalEmbedder, default_cache_dir
from tests.keys_support import keys  # noqa: F401 - a fixture for key, head and archive tests
from tests.requirements import PostgresSchema, PostgresServer, require_postgres, schema_of_its_own


def pytest_configure(config: pytest.Config) -> None:
    # Every server the tests start (in process or as `ragstack serve`) shares the machine's
    # built graphs and precision choice with the session's embedder fixtures: built per data
    # directory, each server start would build and time both variants again (seconds each).
    os.environ.setdefault("RAGSTACK_EMBEDDER_MODELS_DIR", str(default_cache_dir()))


def _start(data_dir: Path) -> EmbeddedServer:
    server = EmbeddedServer(data_dir)
    asyncio.run(server.start())
    return server


@pytest.fixture
def nats_store_dir(tmp_path: Path) -> Path:
    """The embedded server's data directory (config, credentials, JetStream store)."""
    return tmp_path / "nats"


@pytest.fixture
def nats_server(nats_store_dir: Path) -> Iterator[EmbeddedServer]:
    """A nats-server of this test's own, on a free loopback port."""
    server = _start(nats_store_dir)
    try:
        yield server
    finally:
        server.stop_sync()


@pytest.fixture(scope="session")
def shared_nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One nats-server for the whole session, for tests that neither kill nor reconfigure it."""
    server = _start(tmp_path_factory.mktemp("nats-shared"))
    try:
        yield server
    finally:
        server.stop_sync()


@pytest.fixture
async def nc(nats_server: EmbeddedServer) -> AsyncIterator[NATS]:
    """The engine's connection to this test's server."""
    client = await open_nats(nats_server.url, nats_server.user, nats_server.password)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def js(nc: NATS) -> JetStreamContext:
    """JetStream on `nc`."""
    return nc.jetstream()


@pytest.fixture
async def shared_nc(shared_nats_server: EmbeddedServer) -> AsyncIterator[NATS]:
    """The engine's connection to the session's shared server."""
    client = await open_nats(
        shared_nats_server.url, shared_nats_server.user, shared_nats_server.password
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    """The offline MiniLM embedder, shared by the session (it loads its model on first use)."""
    return LocalEmbedder()


@pytest.fixture(scope="session")
def local_embedder_int8() -> LocalEmbedder:
    """The same model's int8 variant (quantised once per machine, then read from the cache)."""
    return LocalEmbedder(precision="int8")


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """The tests' PostgreSQL; a test using it is skipped (failed when strict) if it does not answer."""
    return require_postgres()


@pytest.fixture(scope="session")
def postgres_admin(postgres: PostgresServer) -> Iterator[psycopg.Connection]:
    """One connection for the session that creates and drops the tests' schemas."""
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_schema(
    postgres: PostgresServer, postgres_admin: psycopg.Connection
) -> Iterator[PostgresSchema]:
    """A schema of this test's own on `postgres`, dropped with everything in it afterwards."""
    yield from schema_of_its_own(postgres_admin, postgres.url)


def _leftover_nats_servers() -> list[psutil.Process]:
    leftovers = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "nats-server" and child.status() != psutil.STATUS_ZOMBIE:
                leftovers.append(child)
        except psutil.NoSuchProcess:
            pass
    return leftovers


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run loudly if any nats-server started by a test is still running."""
    leftovers = _leftover_nats_servers()
    if not leftovers:
        return
    for proc in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "nats-server processes left running after the tests (killed now): " + ", ".join(
        str(p.pid) for p in leftovers
    )
    if reporter is not None:
        reporter.write_line(message, red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
