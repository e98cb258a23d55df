"""The accounts store on PostgreSQL (psycopg 3, async, with a psycopg_pool connection pool).

Connections are autocommit: like the SQLite backend, every statement is its own transaction.
`open` makes one direct connection first, so that a wrong host, port, password or database is
reported at once with the server's reason (a pool would retry quietly until its timeout), runs
the migrations on it under an advisory lock, and only then starts the pool.

`schema` puts the tables in their own schema (created if missing) through the connections'
search_path; tests use it to run in parallel against one database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from engine.accounts import AccountStoreConfigError, AccountStoreUnavailable
from engine.accounts.passwords import Passwords
from engine.accounts.secrets import SecretBox
from engine.accounts.store import Clock, Conflict, SqlAccountStore
from engine.pg import setup_transaction

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

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SQL_CACHE: dict[str, str] = {}


def _pg(query: str) -> str:
    # The shared queries use `?`; psycopg wants `%s`. None of them contains a literal ? or %.
    converted = _SQL_CACHE.get(query)
    if converted is None:
        converted = _SQL_CACHE[query] = query.replace("?", "%s")
    return converted


def _describe(url: str) -> str:
    """host:port/db of a conninfo, without the password, for messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured URL"
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"


class PostgresAccountStore(SqlAccountStore):
    """AccountStore on a PostgreSQL database."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        where: str,
        secret_box: SecretBox,
        *,
        passwords: Passwords | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Use `open`; this takes an open pool over a migrated database."""
        super().__init__(secret_box, passwords=passwords, clock=clock)
        self._pool = pool
        self._where = where

    def __repr__(self) -> str:
        return f"PostgresAccountStore({self._where!r})"

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
        if schema is not None and _SCHEMA_NAME.fullmatch(schema) is None:
            raise AccountStoreConfigError(
                f"invalid schema name {schema!r}: use lower-case letters, digits and _"
            )
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise AccountStoreConfigError(f"invalid PostgreSQL URL: {exc}") from None
        where = _describe(url) + (f" (schema {schema})" if schema else "")
        # libpq counts connect_timeout in whole seconds and treats less than 2 as 2.
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(2, math.ceil(connect_timeout)),
        }
        if schema is not None:
            kwargs["options"] = f"-c search_path={schema}"
        await _migrate(url, kwargs, schema, where, connect_timeout)
        pool = AsyncConnectionPool(
            url,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max(min_size, max_size),
            open=False,
            timeout=pool_timeout,
            check=AsyncConnectionPool.check_connection,
            name="ragstack-accounts",
        )
        try:
            await pool.open(wait=True, timeout=max(2.0, connect_timeout) * 2)
        except PoolTimeout:
            await pool.close()
            raise AccountStoreUnavailable(
                f"the accounts database at {where} stopped answering while the pool started"
            ) from None
        return cls(pool, where, secret_box, passwords=passwords, clock=clock)

    async def _run(self, query: str, params: Sequence[Any], fetch: str) -> Any:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(_pg(query), params)
                if fetch == "one":
                    return await cursor.fetchone()
                if fetch == "all":
                    return await cursor.fetchall()
                return cursor.rowcount
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(str(exc)) from None
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise AccountStoreUnavailable(
                f"the accounts database at {self._where} is unavailable: {exc}"
            ) from None

    async def _execute(self, query: str, params: Sequence[Any] = ()) -> int:
        return int(await self._run(query, params, "none"))

    async def _fetchone(self, query: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        return await self._run(query, params, "one")

    async def _fetchall(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._run(query, params, "all"))

    async def _close(self) -> None:
        await self._pool.close()


async def _migrate(
    url: str, kwargs: dict[str, Any], schema: str | None, where: str, wait_s: float
) -> None:
    def unavailable(reason: str) -> Exception:
        return AccountStoreUnavailable(
            f"cannot connect to the accounts database at {where}: {reason}"
        )

    try:
        async with setup_transaction(
            url,
            kwargs,
            schema=schema,
            lock=f"ragstack.accounts.migrate:{schema or ''}",
            wait_s=wait_s,
            unavailable=unavailable,
        ) as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
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
                await conn.execute(
                    "INSERT INTO schema_version (version) VALUES (%s)", (len(MIGRATIONS),)
                )
            else:
                await conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS),))
    except psycopg.Error as exc:
        raise AccountStoreUnavailable(
            f"the accounts database at {where} cannot be prepared: {exc}"
        ) from None
