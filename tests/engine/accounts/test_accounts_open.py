"""open_account_store: URL forms, and PostgreSQL that cannot be reached fails fast and clearly."""

from __future__ import annotations

import asyncio
import socket

import pytest

from engine.accounts import (
    AccountError,
    AccountStoreConfigError,
    AccountStoreUnavailable,
    open_account_store,
)
from engine.accounts.postgres import PostgresAccountStore
from engine.accounts.sqlite import SqliteAccountStore
from tests.requirements import PostgresServer, postgres_server


@pytest.fixture
async def opened():
    stores = []
    yield stores
    for s in stores:
        await s.close()


async def test_sqlite_urls_and_paths_open_sqlite(tmp_path, monkeypatch, box, passwords, opened):
    monkeypatch.chdir(tmp_path)
    forms = {
        f"sqlite://{tmp_path}/abs.db": tmp_path / "abs.db",
        f"sqlite:///{tmp_path}/extra-slash.db": tmp_path / "extra-slash.db",
        "sqlite://rel/relative.db": tmp_path / "rel" / "relative.db",
        str(tmp_path / "plain.db"): tmp_path / "plain.db",
        "bare.db": tmp_path / "bare.db",
    }
    for url, path in forms.items():
        store = await open_account_store(url, box, passwords=passwords)
        opened.append(store)
        assert isinstance(store, SqliteAccountStore)
        await store.create_user("alice@example.com", "password123")
        assert path.exists(), url


async def test_sqlite_in_memory(box, passwords, opened):
    store = await open_account_store("sqlite://:memory:", box, passwords=passwords)
    opened.append(store)
    user = await store.create_user("alice@example.com", "password123")
    assert await store.get_user(user.id) == user


async def test_postgres_url_opens_postgres(box, passwords, pg_schema, opened):
    store = await open_account_store(pg_schema.url, box, passwords=passwords, schema=pg_schema.name)
    opened.append(store)
    assert isinstance(store, PostgresAccountStore)
    assert pg_schema.name in repr(store)
    user = await store.create_user("alice@example.com", "password123")
    assert await store.get_user(user.id) == user


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite://", ""])
async def test_unusable_urls_are_config_errors(url, box):
    with pytest.raises(AccountStoreConfigError):
        await open_account_store(url, box)


async def test_bad_schema_name_is_a_config_error(box):
    with pytest.raises(AccountStoreConfigError, match="schema"):
        # Refused before any connection, so no server is needed.
        await open_account_store(postgres_server().url, box, schema="x; DROP TABLE users")


async def test_postgres_on_a_closed_port_fails_at_once_without_leaking_the_password(box):
    url = "postgresql://postgres:hunter2-secret@127.0.0.1:1/test"
    async with asyncio.timeout(20):
        with pytest.raises(AccountStoreUnavailable) as unavailable:
            await open_account_store(url, box)
    message = str(unavailable.value)
    assert "127.0.0.1:1" in message and "cannot connect" in message
    assert "hunter2-secret" not in message
    assert unavailable.value.code == "account_store_unavailable"


async def test_postgres_that_accepts_but_never_answers_times_out(box):
    # A listening socket that never speaks: the TCP connect succeeds, the handshake never ends.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        async with asyncio.timeout(30):
            with pytest.raises(AccountStoreUnavailable, match="cannot connect"):
                await open_account_store(
                    f"postgresql://postgres@127.0.0.1:{port}/test", box, connect_timeout=1
                )


async def test_postgres_missing_database_is_reported(box, postgres: PostgresServer):
    with pytest.raises(AccountStoreUnavailable, match="rs_no_such_db"):
        await open_account_store(postgres.with_database("rs_no_such_db"), box)


def test_error_codes_are_distinct():
    import engine.accounts as accounts

    classes = [
        obj
        for obj in vars(accounts).values()
        if isinstance(obj, type) and issubclass(obj, AccountError)
    ]
    codes = [c.code for c in classes]
    assert len(classes) >= 15
    assert len(set(codes)) == len(codes)


class TcpProxy:
    """Forwards a local port to PostgreSQL; `cut` drops every connection and stops listening."""

    def __init__(self, upstream: PostgresServer) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up = self.upstream
        up_reader, up_writer = await asyncio.open_connection(up.host, up.port)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        self._writers.clear()
        await self._server.wait_closed()


async def test_postgres_outage_gives_a_clear_error_then_the_store_recovers(
    box, passwords, postgres, pg_schema, opened
):
    proxy = TcpProxy(postgres)
    await proxy.start()
    store = await open_account_store(
        postgres.through("127.0.0.1", proxy.port),
        box,
        passwords=passwords,
        schema=pg_schema.name,
        pool_timeout=2,
    )
    opened.append(store)
    user = await store.create_user("alice@example.com", "password123")
    # The database goes away: calls fail with our error within the pool timeout, not a hang.
    await proxy.cut()
    async with asyncio.timeout(20):
        with pytest.raises(AccountStoreUnavailable, match="unavailable"):
            await store.get_user(user.id)
    # It comes back on the same port: the same store object works again.
    await proxy.start()
    async with asyncio.timeout(30):
        while True:
            try:
                assert await store.get_user(user.id) == user
                break
            except AccountStoreUnavailable:
                await asyncio.sleep(0.2)
    await proxy.cut()
