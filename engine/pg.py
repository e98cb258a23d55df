"""PostgreSQL plumbing shared by the stores that live there (accounts, the chat view).

A store opens a `PgDatabase`: the URL and schema name are checked (`config_error`), one direct
connection prepares the tables under an advisory lock (so that a wrong host, port, password or
database is reported at once with the server's reason, where a pool would retry quietly until its
timeout), and only then a psycopg_pool pool starts. Every error comes out in the store's own
terms (`unavailable`), naming the database without its password.

`schema` puts the tables in a schema of their own (created if missing) through the connections'
search_path; tests use it to run in parallel against one database. Connections are autocommit.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypedDict

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

__all__ = ["PgDatabase", "PoolOptions", "pg_query"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SQL_CACHE: dict[str, str] = {}


class PoolOptions(TypedDict, total=False):
    """How a store's `open` reaches PostgreSQL: what it passes on to `PgDatabase.open`."""

    schema: str | None
    min_size: int
    max_size: int
    connect_timeout: float
    pool_timeout: float


Prepare = Callable[[psycopg.AsyncConnection[Any], str], Awaitable[None]]
"""Creates or migrates a store's tables on the connection it is given, inside one transaction;
the second argument names the database for messages."""


def pg_query(query: str) -> str:
    """A query written with SQLite's `?` placeholders in psycopg's `%s` style.

    The shared queries hold no literal ? or %, so a plain replacement is exact.
    """
    converted = _SQL_CACHE.get(query)
    if converted is None:
        converted = _SQL_CACHE[query] = query.replace("?", "%s")
    return converted


def _describe(url: str) -> str:
    """host:port/db of a conninfo, without the password, for messages."""
    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"


class PgDatabase:
    """One store's PostgreSQL database: its pool, where it is, and its errors in the store's terms."""

    def __init__(
        self, pool: AsyncConnectionPool, where: str, label: str, unavailable: type[Exception]
    ) -> None:
        """Use `open`."""
        self.pool = pool
        self.where = where
        """host:port/db (and schema) for messages; never the password."""
        self._label = label
        self._unavailable = unavailable

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        label: str,
        lock: str,
        prepare: Prepare,
        config_error: type[Exception],
        unavailable: type[Exception],
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 4,
        connect_timeout: float = 5.0,
        pool_timeout: float = 10.0,
    ) -> PgDatabase:
        """Check, prepare and start the pool of the `label` database ("accounts", "chat").

        `prepare` runs in one transaction holding the advisory lock `lock` + ":" + schema.

        `config_error` for a bad URL or schema name; `unavailable` when the server cannot be
        reached or used. `connect_timeout` bounds each connection attempt, `pool_timeout` how
        long an operation waits for a working connection (e.g. while the server is down).
        """
        if schema is not None and _SCHEMA_NAME.fullmatch(schema) is None:
            raise config_error(
                f"invalid schema name {schema!r}: use lower-case letters, digits and _"
            )
        try:
            where = _describe(url) + (f" (schema {schema})" if schema else "")
        except psycopg.ProgrammingError as exc:
            raise config_error(f"invalid PostgreSQL URL: {exc}") from None
        # libpq counts connect_timeout in whole seconds and treats less than 2 as 2.
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(2, math.ceil(connect_timeout)),
        }
        if schema is not None:
            kwargs["options"] = f"-c search_path={schema}"
        try:
            async with _setup_transaction(
                url,
                kwargs,
                schema=schema,
                lock=f"{lock}:{schema or ''}",
                wait_s=connect_timeout,
                unavailable=lambda reason: unavailable(
                    f"cannot connect to the {label} database at {where}: {reason}"
                ),
            ) as conn:
                await prepare(conn, where)
        except psycopg.Error as exc:
            raise unavailable(
                f"the {label} database at {where} cannot be prepared: {exc}"
            ) from None
        pool = AsyncConnectionPool(
            url,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max(min_size, max_size),
            open=False,
            timeout=pool_timeout,
            check=AsyncConnectionPool.check_connection,
            name=f"ragstack-{label}",
        )
        try:
            await pool.open(wait=True, timeout=max(2.0, connect_timeout) * 2)
        except PoolTimeout:
            await pool.close()
            raise unavailable(
                f"the {label} database at {where} stopped answering while the pool started"
            ) from None
        return cls(pool, where, label, unavailable)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; a lost server or an exhausted pool is `unavailable`."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise self._unavailable(
                f"the {self._label} database at {self.where} is unavailable: {exc}"
            ) from None

    async def close(self) -> None:
        """Close the pool."""
        await self.pool.close()


@asynccontextmanager
async def _setup_transaction(
    url: str,
    kwargs: dict[str, Any],
    *,
    schema: str | None,
    lock: str,
    wait_s: float,
    unavailable: Callable[[str], Exception],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """One connection and transaction for creating or migrating a store's tables.

    The connection attempt is bounded: psycopg enforces connect_timeout per attempt, and the
    outer bound covers several addresses for one host name and a server that accepts but never
    answers (`unavailable(reason)` is raised). Inside, `lock` is held as an advisory lock, so one
    process at a time prepares a database and schema (concurrent CREATE ... IF NOT EXISTS can
    still collide in PostgreSQL's catalogue), and `schema`, if given, exists and is searched.
    """
    try:
        async with asyncio.timeout(max(2.0, wait_s) * 3):
            conn = await psycopg.AsyncConnection.connect(url, **kwargs)
    except (psycopg.OperationalError, TimeoutError) as exc:
        raise unavailable(str(exc).strip() or "no answer in time") from None
    async with conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))
        if schema is not None:
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            await conn.execute(
                sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema))
            )
        yield conn
