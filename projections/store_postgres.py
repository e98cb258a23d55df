"""The views database on PostgreSQL: the read models and their checkpoints, for deployments.

Same interface as the SQLite file (`projections.store.Views`), so the projections run unchanged:
`transaction()` yields a connection whose `execute`, `executemany` and `execute_fetchall` take the
projections' `?` placeholders and return cursors with `fetchone`/`fetchall`, as aiosqlite's do.
Processes on several machines share it, so where SQLite had one writer, transactions here run
concurrently; a batch takes its projection's lock on its chapter (`serialise`, a transaction-scoped
advisory lock) before it reads or writes, and the fenced checkpoint check (`Checkpoints.store`)
runs under it: a stale batch of a chapter handed to another worker finds the checkpoint moved
and rolls back whole.

The schema is versioned (`MIGRATIONS`, recorded in `views_schema_version`) and migrated when a
process opens the database, under `PgDatabase`'s advisory lock, so two processes starting at once
apply each step once. Text columns use the "C" collation: ORDER BY sorts as SQLite does (bytes),
so digests and tie-breaks agree with the SQLite views.

Erasure: deleted rows stay in PostgreSQL's heap pages (and its WAL) until VACUUM reclaims them
and later writes reuse the space; `truncate_wal` runs VACUUM on the tables that hold personal
texts after an erasure (docs/log-format.md, "Erasure", says what that guarantees).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Unpack

import psycopg

from engine.errors import EngineError
from engine.pg import PgDatabase, PoolOptions, pg_query
from projections.chat import TABLES as CHAT_TABLES

__all__ = [
    "MIGRATIONS",
    "PgTransaction",
    "PostgresViews",
    "ViewsConfigError",
    "ViewsError",
    "ViewsUnavailable",
    "migrate",
]


class ViewsError(EngineError):
    """Base of the PostgreSQL views database's errors (`ragstack serve` reports them plainly)."""

    code = "views_error"


class ViewsConfigError(ViewsError, ValueError):
    """The views configuration (URL, schema name) is unusable."""

    code = "views_config"


class ViewsUnavailable(ViewsError):
    """The PostgreSQL views database cannot be reached or used (the gateway answers 503)."""

    code = "views_unavailable"


_TEXT = 'TEXT COLLATE "C"'

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the read models of the SQLite file, as they stand (catalogue, ingest, vectors, tree).
    (
        f"""CREATE TABLE erasure_refolds (
            projection {_TEXT} NOT NULL, chapter {_TEXT} NOT NULL, rev BIGINT NOT NULL,
            PRIMARY KEY (projection, chapter))""",
        f"""CREATE TABLE checkpoints (
            projection {_TEXT} NOT NULL, chapter {_TEXT} NOT NULL, rev BIGINT NOT NULL,
            version INTEGER NOT NULL, PRIMARY KEY (projection, chapter))""",
        f"""CREATE TABLE catalogue_chapters (
            chapter {_TEXT} PRIMARY KEY, book {_TEXT} NOT NULL, title {_TEXT} NOT NULL,
            rev BIGINT NOT NULL, forked_from {_TEXT})""",
        f"""CREATE TABLE catalogue_sources (
            chapter {_TEXT} NOT NULL, source {_TEXT} NOT NULL, name {_TEXT} NOT NULL,
            media_type {_TEXT} NOT NULL, size BIGINT NOT NULL, blob {_TEXT} NOT NULL,
            origin {_TEXT} NOT NULL, url {_TEXT}, status {_TEXT} NOT NULL, code {_TEXT},
            reason {_TEXT}, tags {_TEXT} NOT NULL, rev BIGINT NOT NULL, added_rev BIGINT NOT NULL,
            text_blob {_TEXT}, extractor {_TEXT}, chunks BIGINT NOT NULL DEFAULT 0,
            connector {_TEXT}, ref {_TEXT}, meta {_TEXT}, PRIMARY KEY (chapter, source))""",
        f"""CREATE TABLE ingest_pending (
            chapter {_TEXT} NOT NULL, source {_TEXT} NOT NULL, rev BIGINT NOT NULL,
            kind {_TEXT} NOT NULL, blob {_TEXT} NOT NULL, name {_TEXT} NOT NULL,
            media_type {_TEXT} NOT NULL, new_text {_TEXT}, PRIMARY KEY (chapter, source))""",
        f"CREATE TABLE ingest_mirrors (chapter {_TEXT} PRIMARY KEY)",
        f"""CREATE TABLE ingest_texts (
            chapter {_TEXT} NOT NULL, source {_TEXT} NOT NULL, text_blob {_TEXT} NOT NULL,
            chunks BYTEA, chunks_blob {_TEXT}, PRIMARY KEY (chapter, source))""",
        f"""CREATE TABLE vectors_sources (
            chapter {_TEXT} NOT NULL, source {_TEXT} NOT NULL, name {_TEXT} NOT NULL,
            tags {_TEXT} NOT NULL, text_blob {_TEXT}, chunks {_TEXT} NOT NULL, meta {_TEXT},
            PRIMARY KEY (chapter, source))""",
        f"""CREATE TABLE merkle_trees (
            chapter {_TEXT} PRIMARY KEY, size BIGINT NOT NULL, head BYTEA NOT NULL)""",
        f"""CREATE TABLE merkle_tiles (
            chapter {_TEXT} NOT NULL, level INTEGER NOT NULL, tile BIGINT NOT NULL,
            hashes BYTEA NOT NULL, PRIMARY KEY (chapter, level, tile))""",
    ),
    # 2: the lexical index (projections/lexical_postgres.py): one table for every chapter, its
    # text's tsvector kept by PostgreSQL itself. Punctuation is split off first, as SQLite's
    # unicode61 tokenizer does, so "E-4021" holds the term "4021" (PostgreSQL's parser alone
    # reads "-4021", a signed number, which a search for 4021 would never match).
    (
        f"CREATE TABLE lexical_chapters (chapter {_TEXT} PRIMARY KEY)",
        f"""CREATE TABLE lexical_rows (
            chapter {_TEXT} NOT NULL, id {_TEXT} NOT NULL, source {_TEXT} NOT NULL,
            source_name {_TEXT} NOT NULL, chunk {_TEXT} NOT NULL, start BIGINT NOT NULL,
            "end" BIGINT NOT NULL, page BIGINT, heading {_TEXT}, text {_TEXT} NOT NULL,
            cite {_TEXT} NOT NULL DEFAULT '',
            terms tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig,
                regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))) STORED,
            PRIMARY KEY (chapter, id))""",
        "CREATE INDEX lexical_rows_source ON lexical_rows (chapter, source)",
        "CREATE INDEX lexical_rows_terms ON lexical_rows USING GIN (terms)",
    ),
    # 3: the embedding cache (projections/embedding_cache_postgres.py), shared by every process.
    (
        f"""CREATE TABLE embeddings (
            model {_TEXT} NOT NULL, chunk {_TEXT} NOT NULL, vector BYTEA NOT NULL,
            PRIMARY KEY (model, chunk))""",
        "CREATE INDEX embeddings_chunk ON embeddings (chunk)",
    ),
    # 4: which embedder made each chapter's vectors (projections/vectors.py, `load_checkpoint`).
    (f"CREATE TABLE vectors_models (chapter {_TEXT} PRIMARY KEY, model {_TEXT} NOT NULL)",),
)
"""The schema steps: step i takes the database from version i to i + 1. Append, never edit: a
database records only how many steps it has applied."""

_ERASABLE = (
    "catalogue_sources", "catalogue_chapters", "ingest_pending", "ingest_texts",
    "vectors_sources", "lexical_rows", "embeddings", *CHAT_TABLES,
)  # fmt: skip
"""The tables an erasure deletes personal texts (or vectors made from them) from. The chat view's
(`projections.chat_postgres`) are in the same database, `views` naming both, when it is open."""


async def migrate(
    conn: psycopg.AsyncConnection[Any],
    where: str,
    steps: Sequence[Sequence[str]] = MIGRATIONS,
) -> None:
    """Bring the views database `where` to `len(steps)` inside the open transaction `conn`;
    refuse one a newer RagStack has migrated. (`steps` shorter than `MIGRATIONS` leaves an
    older version, as an older release made it: tests of upgrades do that.)"""
    await conn.execute("CREATE TABLE IF NOT EXISTS views_schema_version (version INTEGER NOT NULL)")
    row = await (await conn.execute("SELECT version FROM views_schema_version")).fetchone()
    version = 0 if row is None else int(row[0])
    if version > len(steps):
        raise ViewsUnavailable(
            f"the views database at {where} is at schema version {version}, newer than this "
            f"RagStack knows ({len(steps)}); upgrade RagStack"
        )
    for step in steps[version:]:
        for statement in step:
            await conn.execute(statement)
    if row is None:
        await conn.execute("INSERT INTO views_schema_version VALUES (%s)", (len(steps),))
    elif version != len(steps):
        await conn.execute("UPDATE views_schema_version SET version = %s", (len(steps),))


class PgTransaction:
    """One open transaction, with the aiosqlite connection methods the projections call."""

    dialect: ClassVar[str] = "postgresql"

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, query: str, params: Iterable[Any] = ()) -> psycopg.AsyncCursor[Any]:
        """Run one statement; its cursor (`fetchone`, `fetchall`)."""
        return await self._conn.execute(pg_query(query), tuple(params))

    async def executemany(self, query: str, rows: Iterable[Iterable[Any]]) -> None:
        """Run one statement for each row of parameters (pipelined: one round trip)."""
        async with self._conn.cursor() as cursor:
            await cursor.executemany(pg_query(query), [tuple(r) for r in rows])

    async def execute_fetchall(
        self, query: str, params: Iterable[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Every row of one statement."""
        cursor = await self._conn.execute(pg_query(query), tuple(params))
        return list(await cursor.fetchall())


class PostgresViews:
    """The views database on PostgreSQL: pooled connections, one per transaction or query."""

    dialect: ClassVar[str] = "postgresql"

    def __init__(self, db: PgDatabase) -> None:
        """Use `open`; this takes an open database with the schema migrated."""
        self.db = db
        """The pool (the embedding cache shares it)."""

    def __repr__(self) -> str:
        return f"PostgresViews({self.db.where!r})"

    @classmethod
    async def open(cls, url: str, **pool: Unpack[PoolOptions]) -> PostgresViews:
        """Connect, migrate the schema, start a pool (`PgDatabase.open`'s, up to 8 connections
        unless `max_size` says otherwise).

        ViewsConfigError for a bad URL or schema name; ViewsUnavailable when the server cannot be
        reached or used (the message names host:port/db, never the password).
        """
        pool.setdefault("max_size", 8)
        db = await PgDatabase.open(
            url,
            label="views",
            lock="ragstack.views.migrate",
            prepare=migrate,
            config_error=ViewsConfigError,
            unavailable=ViewsUnavailable,
            **pool,
        )
        return cls(db)

    async def close(self) -> None:
        """Close the pool."""
        await self.db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTransaction]:
        """One transaction; commits on success, rolls back on any error (or cancellation)."""
        async with self.db.connection() as conn, conn.transaction():
            yield PgTransaction(conn)

    async def serialise(self, db: PgTransaction, key: str) -> None:
        """Inside the open transaction `db`, hold the advisory lock `key` until it ends: a second
        transaction asking for it waits for this one's commit (or rollback)."""
        await db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (f"ragstack.views:{key}",)
        )

    async def script(self, sql: str) -> None:
        """Run DDL (statements without parameters) in one transaction."""
        async with self.db.connection() as conn, conn.transaction():
            await conn.execute(sql)  # type: ignore[arg-type]  # DDL, no parameters

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query (committed data only)."""
        async with self.db.connection() as conn:
            cursor = await conn.execute(pg_query(sql), tuple(params))
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a read-only query, or None."""
        async with self.db.connection() as conn:
            cursor = await conn.execute(pg_query(sql), tuple(params))
            return await cursor.fetchone()

    async def truncate_wal(self) -> None:
        """After an erasure: VACUUM the tables that held the erased texts (the chat view's too,
        where it is in this database), so their dead rows are reclaimed now rather than whenever
        autovacuum comes by (it cannot zero the bytes; see docs/log-format.md, "Erasure")."""
        async with self.db.connection() as conn:  # autocommit: VACUUM runs outside a transaction
            for table in _ERASABLE:
                found = await (await conn.execute("SELECT to_regclass(%s)", (table,))).fetchone()
                if found is not None and found[0] is not None:
                    await conn.execute(f"VACUUM {table}")  # type: ignore[arg-type]  # a fixed name
