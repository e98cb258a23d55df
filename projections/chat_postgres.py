"""The chat view on PostgreSQL (psycopg 3, async, with a psycopg_pool pool), for deployments.

Same tables, statements and row shapes as the SQLite view (`projections.chat`); the checkpoint
lives beside them in `chat_checkpoints`, and each batch's rows and checkpoint commit in one
transaction. A transaction-scoped advisory lock per chapter serialises batches of one chapter
across processes, so that while a chapter is handed from one worker to another a late batch from
the old worker finds the checkpoint already past it and changes nothing.

`schema` puts the tables in a schema of their own (created if missing) through the connections'
search_path; tests use it to run in parallel against one database.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from engine.pg import setup_transaction
from events import Envelope
from projections.chat import (
    CHAT_VERSION,
    TABLES,
    ChatReads,
    ChatViewConfigError,
    ChatViewUnavailable,
    applied_rev,
    fold_batch,
    schema_sql,
)

__all__ = ["PostgresChatView"]

_CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS chat_checkpoints (
    chapter TEXT COLLATE "C" PRIMARY KEY, rev BIGINT NOT NULL, version INTEGER NOT NULL
)
"""
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SQL_CACHE: dict[str, str] = {}


def _pg(query: str) -> str:
    # The shared statements use `?`; psycopg wants `%s`. None of them holds a literal ? or %.
    converted = _SQL_CACHE.get(query)
    if converted is None:
        converted = _SQL_CACHE[query] = query.replace("?", "%s")
    return converted


def _describe(url: str) -> str:
    """host:port/db of a conninfo, without the password, for messages."""
    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    return f"{host}:{params.get('port') or '5432'}/{params.get('dbname') or ''}"


class PostgresChatView(ChatReads):
    """The chat view on PostgreSQL: the `Projection` protocol plus the read methods."""

    name: ClassVar[str] = "chat"
    version: int = CHAT_VERSION

    def __init__(self, pool: AsyncConnectionPool, where: str) -> None:
        """Use `open`; this takes an open pool over a database with the tables made."""
        self._pool = pool
        self._where = where

    def __repr__(self) -> str:
        return f"PostgresChatView({self._where!r})"

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 4,
        connect_timeout: float = 5.0,
        pool_timeout: float = 10.0,
    ) -> PostgresChatView:
        """Connect, create the tables (and schema) if missing, start a pool.

        ChatViewConfigError for a bad URL or schema name; ChatViewUnavailable when the server
        cannot be reached or used. `pool_timeout` bounds how long an operation waits for a
        working connection (e.g. while the server is down) before ChatViewUnavailable.
        """
        if schema is not None and _SCHEMA_NAME.fullmatch(schema) is None:
            raise ChatViewConfigError(
                f"invalid schema name {schema!r}: use lower-case letters, digits and _"
            )
        try:
            where = _describe(url) + (f" (schema {schema})" if schema else "")
        except psycopg.ProgrammingError as exc:
            raise ChatViewConfigError(f"invalid PostgreSQL URL: {exc}") from None
        # libpq counts connect_timeout in whole seconds and treats less than 2 as 2.
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(2, math.ceil(connect_timeout)),
        }
        if schema is not None:
            kwargs["options"] = f"-c search_path={schema}"
        await _create_tables(url, kwargs, schema, where, connect_timeout)
        pool = AsyncConnectionPool(
            url,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max(min_size, max_size),
            open=False,
            timeout=pool_timeout,
            check=AsyncConnectionPool.check_connection,
            name="ragstack-chat",
        )
        try:
            await pool.open(wait=True, timeout=max(2.0, connect_timeout) * 2)
        except PoolTimeout:
            await pool.close()
            raise ChatViewUnavailable(
                f"the chat database at {where} stopped answering while the pool started"
            ) from None
        return cls(pool, where)

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise ChatViewUnavailable(
                f"the chat database at {self._where} is unavailable: {exc}"
            ) from None

    @asynccontextmanager
    async def _chapter_transaction(
        self, chapter: str
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"ragstack.chat:{chapter}",),
            )
            yield conn

    # -- the Projection protocol --------------------------------------------------------------

    async def load_checkpoint(self, chapter: str) -> tuple[int, int] | None:
        """(rev, version) last applied for `chapter`."""
        rows = await self._rows(
            "SELECT rev, version FROM chat_checkpoints WHERE chapter = ?", (chapter,)
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    async def reset(self, chapter: str) -> None:
        """Clear the chapter's rows and checkpoint in one transaction."""
        async with self._chapter_transaction(chapter) as conn:
            for table in (*TABLES, "chat_checkpoints"):
                await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE chapter = %s").format(sql.Identifier(table)),
                    (chapter,),
                )

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        """Fold the events past the checkpoint and move it, in one transaction."""
        async with self._chapter_transaction(chapter) as conn:
            cursor = await conn.execute(
                "SELECT rev, version FROM chat_checkpoints WHERE chapter = %s", (chapter,)
            )
            row = await cursor.fetchone()
            done = applied_rev(None if row is None else (row[0], row[1]), self.version)

            async def read(query: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
                return list(await (await conn.execute(_pg(query), args)).fetchall())

            writes, last = await fold_batch(read, chapter, events, done)
            # One round trip for all the writes rather than one each; errors surface at the sync.
            async with conn.pipeline():
                for query, args in writes:
                    await conn.execute(_pg(query), args)
                if last is not None:
                    await conn.execute(
                        "INSERT INTO chat_checkpoints (chapter, rev, version) VALUES (%s, %s, %s) "
                        "ON CONFLICT (chapter) DO UPDATE SET rev = excluded.rev, "
                        "version = excluded.version",
                        (chapter, last, self.version),
                    )

    async def idle(self, chapter: str) -> None:
        """Nothing deferred."""

    # -- reads (ChatReads runs them) ----------------------------------------------------------

    async def _rows(self, query: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        async with self._connection() as conn:
            cursor = await conn.execute(_pg(query), args)
            return list(await cursor.fetchall())


async def _create_tables(
    url: str, kwargs: dict[str, Any], schema: str | None, where: str, wait_s: float
) -> None:
    def unavailable(reason: str) -> Exception:
        return ChatViewUnavailable(f"cannot connect to the chat database at {where}: {reason}")

    try:
        async with setup_transaction(
            url,
            kwargs,
            schema=schema,
            lock=f"ragstack.chat.schema:{schema or ''}",
            wait_s=wait_s,
            unavailable=unavailable,
        ) as conn:
            for statement in (*schema_sql('TEXT COLLATE "C"').split(";"), _CHECKPOINTS):
                if statement.strip():
                    await conn.execute(statement)
    except psycopg.Error as exc:
        raise ChatViewUnavailable(
            f"the chat database at {where} cannot be prepared: {exc}"
        ) from None
