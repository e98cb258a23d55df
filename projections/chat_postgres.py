"""The chat view on PostgreSQL (psycopg 3, async, with a psycopg_pool pool), for deployments.

Same tables, statements and row shapes as the SQLite view (`projections.chat`); the checkpoint
lives beside them in `chat_checkpoints`, and each batch's rows and checkpoint commit in one
transaction. A transaction-scoped advisory lock per chapter serialises batches of one chapter
across processes, so that while a chapter is handed from one worker to another a late batch from
the old worker finds the checkpoint already past it and changes nothing.

A `ContentErased` clears the chapter's rows and checkpoint in the batch's transaction, as the
SQLite view does (`SqliteProjection.erasure_reset`): the runner re-folds the chapter from rev 1,
the erased fields now reading `[erased]`. `chat_erasure_refolds` remembers the last erasure
re-folded for, so the re-fold passes it. Deleted rows linger in PostgreSQL's heap pages until
VACUUM reclaims them: the PostgreSQL views run one on these tables too after an erasure, where
they share the database (docs/log-format.md, "Erasure").

Opening, the optional `schema` and the translation of connection errors are
`engine.pg.PgDatabase`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Unpack

import psycopg
from psycopg import sql

from engine.pg import PgDatabase, PoolOptions, pg_query
from events import ContentErased, Envelope
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
_REFOLDS = """
CREATE TABLE IF NOT EXISTS chat_erasure_refolds (
    chapter TEXT COLLATE "C" PRIMARY KEY, rev BIGINT NOT NULL
)
"""


class PostgresChatView(ChatReads):
    """The chat view on PostgreSQL: the `Projection` protocol plus the read methods."""

    name: ClassVar[str] = "chat"
    version: int = CHAT_VERSION
    refold_on_erasure: ClassVar[bool] = True
    """A `ContentErased` clears the chapter and the runner re-folds it (see the module doc)."""

    def __init__(self, db: PgDatabase) -> None:
        """Use `open`; this takes an open database with the tables made."""
        self._db = db

    def __repr__(self) -> str:
        return f"PostgresChatView({self._db.where!r})"

    @classmethod
    async def open(cls, url: str, **pool: Unpack[PoolOptions]) -> PostgresChatView:
        """Connect, create the tables (and schema) if missing, start a pool (`PgDatabase.open`'s).

        ChatViewConfigError for a bad URL or schema name; ChatViewUnavailable when the server
        cannot be reached or used. `pool_timeout` bounds how long an operation waits for a
        working connection (e.g. while the server is down) before ChatViewUnavailable.
        """
        db = await PgDatabase.open(
            url,
            label="chat",
            lock="ragstack.chat.schema",
            prepare=_create_tables,
            config_error=ChatViewConfigError,
            unavailable=ChatViewUnavailable,
            **pool,
        )
        return cls(db)

    async def close(self) -> None:
        """Close the pool."""
        await self._db.close()

    @asynccontextmanager
    async def _chapter_transaction(
        self, chapter: str
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._db.connection() as conn, conn.transaction():
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
            await _clear(conn, chapter)

    async def _erasure_reset(
        self, conn: psycopg.AsyncConnection[Any], chapter: str, events: Sequence[Envelope]
    ) -> bool:
        # Inside the batch's transaction: an erasure not re-folded for yet clears the chapter
        # (True); the re-fold, passing the same erasure, folds it as any other event.
        erasures = [e.rev for e in events if isinstance(e.body, ContentErased)]
        if not erasures:
            return False
        cursor = await conn.execute(
            "SELECT rev FROM chat_erasure_refolds WHERE chapter = %s", (chapter,)
        )
        row = await cursor.fetchone()
        if row is not None and max(erasures) <= row[0]:
            return False
        await _clear(conn, chapter)
        await conn.execute(
            "INSERT INTO chat_erasure_refolds (chapter, rev) VALUES (%s, %s) "
            "ON CONFLICT (chapter) DO UPDATE SET rev = excluded.rev",
            (chapter, max(erasures)),
        )
        return True

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        """Fold the events past the checkpoint and move it, in one transaction (or, on a new
        erasure, clear the chapter for the runner to re-fold)."""
        async with self._chapter_transaction(chapter) as conn:
            if await self._erasure_reset(conn, chapter, events):
                return
            cursor = await conn.execute(
                "SELECT rev, version FROM chat_checkpoints WHERE chapter = %s", (chapter,)
            )
            row = await cursor.fetchone()
            done = applied_rev(None if row is None else (row[0], row[1]), self.version)

            async def read(query: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
                return list(await (await conn.execute(pg_query(query), args)).fetchall())

            writes, last = await fold_batch(read, chapter, events, done)
            # One round trip for all the writes rather than one each; errors surface at the sync.
            async with conn.pipeline():
                for query, args in writes:
                    await conn.execute(pg_query(query), args)
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
        async with self._db.connection() as conn:
            cursor = await conn.execute(pg_query(query), args)
            return list(await cursor.fetchall())


async def _clear(conn: psycopg.AsyncConnection[Any], chapter: str) -> None:
    for table in (*TABLES, "chat_checkpoints"):
        await conn.execute(
            sql.SQL("DELETE FROM {} WHERE chapter = %s").format(sql.Identifier(table)), (chapter,)
        )


async def _create_tables(conn: psycopg.AsyncConnection[Any], where: str) -> None:
    for statement in (*schema_sql('TEXT COLLATE "C"').split(";"), _CHECKPOINTS, _REFOLDS):
        if statement.strip():
            await conn.execute(statement)
