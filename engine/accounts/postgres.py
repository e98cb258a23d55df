"""The accounts store on PostgreSQL (psycopg 3, async, with a psycopg_pool connection pool).

Connections are autocommit: like the SQLite backend, every statement is its own transaction.
Opening, migrations (under an advisory lock, before the pool starts), the optional `schema` and
the translation of connection errors are `engine.pg.PgDatabase`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg.errors

from engine.accounts import AccountStoreConfigError, AccountStoreUnavailable
from engine.accounts.passwords import Passwords
from engine.accounts.secrets import SecretBox
from engine.accounts.store import Clock, Conflict, SqlAccountStore
from engine.pg import PgDatabase, pg_query

__all__ = ["MIGRATIONS", "PostgresAccountStore"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            disabled BOOLEAN NOT NULL DEFAULT FALSE
        )""",
        """CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            token_hash BYTEA NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT,
            last_used_at BIGINT
        )""",
        "CREATE INDEX api_tokens_user ON api_tokens (user_id)",
        """CREATE TABLE secrets (
            scope TEXT NOT NULL,
            name TEXT NOT NULL,
            ciphertext BYTEA NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (scope, name)
        )""",
        """CREATE TABLE share_tokens (
            share_id TEXT PRIMARY KEY,
            token_hash BYTEA NOT NULL UNIQUE,
            chapter_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )""",
    ),
)
"""Schema steps in PostgreSQL's dialect, in step with sqlite.MIGRATIONS. Append, never edit."""


class PostgresAccountStore(SqlAccountStore):
    """AccountStore on a PostgreSQL database."""

    def __init__(
        self,
        db: PgDatabase,
        secret_box: SecretBox,
        *,
        passwords: Passwords | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Use `open`; this takes an open database, migrated."""
        super().__init__(secret_box, passwords=passwords, clock=clock)
        self._db = db

    def __repr__(self) -> str:
        return f"PostgresAccountStore({self._db.where!r})"

    @classmethod
    async def open(
        cls,
        url: str,
        secret_box: SecretBox,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 5.0,
        pool_timeout: float = 10.0,
        passwords: Passwords | None = None,
        clock: Clock | None = None,
    ) -> PostgresAccountStore:
        """Connect, migrate and start a pool; AccountStoreUnavailable if the server cannot be used.

        `connect_timeout` bounds each connection attempt; `pool_timeout` bounds how long an
        operation waits for a working connection (e.g. while the server is down) before it
        raises AccountStoreUnavailable.
        """
        db = await PgDatabase.open(
            url,
            label="accounts",
            lock="ragstack.accounts.migrate",
            prepare=_migrate,
            config_error=AccountStoreConfigError,
            unavailable=AccountStoreUnavailable,
            schema=schema,
            min_size=min_size,
            max_size=max_size,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        return cls(db, secret_box, passwords=passwords, clock=clock)

    async def _run(self, query: str, params: Sequence[Any], fetch: str) -> Any:
        try:
            async with self._db.connection() as conn:
                cursor = await conn.execute(pg_query(query), params)
                if fetch == "one":
                    return await cursor.fetchone()
                if fetch == "all":
                    return await cursor.fetchall()
                return cursor.rowcount
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(str(exc)) from None

    async def _execute(self, query: str, params: Sequence[Any] = ()) -> int:
        return int(await self._run(query, params, "none"))

    async def _fetchone(self, query: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        return await self._run(query, params, "one")

    async def _fetchall(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._run(query, params, "all"))

    async def _close(self) -> None:
        await self._db.close()


async def _migrate(conn: psycopg.AsyncConnection[Any], where: str) -> None:
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = await (await conn.execute("SELECT version FROM schema_version")).fetchone()
    version = 0 if row is None else int(row[0])
    if version > len(MIGRATIONS):
        raise AccountStoreUnavailable(
            f"the accounts database at {where} is at schema version {version}, newer"
            f" than this RagStack knows ({len(MIGRATIONS)}); upgrade RagStack"
        )
    for step in MIGRATIONS[version:]:
        for statement in step:
            await conn.execute(statement)
    if row is None:
        await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (len(MIGRATIONS),))
    else:
        await conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS),))
