"""The SQLite file that holds read models and their checkpoints (the one-machine default).

`open_views` picks the backend from the configuration: this file, or the same tables in
PostgreSQL (`projections.store_postgres.PostgresViews`) so that processes on several machines
share the read models. Both offer the same interface; `dialect` names the backend for the few
statements that must differ (each module branches on it in one place).

Where a read model lives in this database, its update and its checkpoint commit in one
transaction, so a crash can never leave them apart. Read models kept elsewhere (a vector index)
are written with idempotent upserts first and checkpointed here after, so a replay changes nothing.

Chapters are folded concurrently, so writes go through one connection guarded by a lock (SQLite
has one writer anyway) and reads through a second connection that only sees committed data.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import aiosqlite

if TYPE_CHECKING:  # psycopg is imported only where PostgreSQL is configured
    from projections.store_postgres import PostgresViews

_SCHEMA = """
CREATE TABLE IF NOT EXISTS erasure_refolds (
    projection TEXT NOT NULL,
    chapter TEXT NOT NULL,
    rev INTEGER NOT NULL,
    PRIMARY KEY (projection, chapter)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    projection TEXT NOT NULL,
    chapter TEXT NOT NULL,
    rev INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (projection, chapter)
);
"""


async def _connect(path: Path) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("PRAGMA busy_timeout=10000")
    # Erased content must not linger in freed pages of the file (docs/log-format.md, "Erasure").
    await db.execute("PRAGMA secure_delete=ON")
    return db


class CheckpointMoved(Exception):
    """A batch's checkpoint is no longer where the batch started: it is not applied."""


class Views:
    """The views database: a locked writer for transactions, a reader for queries."""

    dialect: ClassVar[str] = "sqlite"
    """Which SQL this backend speaks ("sqlite"; PostgresViews says "postgresql")."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> "Views":
        """Open (creating) the database at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        await writer.executescript(_SCHEMA)
        reader = await _connect(path)
        return cls(writer, reader)

    async def truncate_wal(self) -> None:
        """Fold the write-ahead log into the file and empty it: after an erasure, old page images
        in the WAL would still hold what `secure_delete` zeroed in the file."""
        async with self._lock:
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        """Close both connections."""
        await self._reader.close()
        await self._writer.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; commits on success, rolls back on any error."""
        # A fold may be cancelled at any await here (a chapter unwatched, the runner stopping).
        # aiosqlite runs statements in order on its own thread and finishes one whose awaiter
        # was cancelled, so a ROLLBACK queued after an interrupted BEGIN always lands after it,
        # and shielding it keeps a second cancellation from skipping it.
        async with self._lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield self._writer
            except BaseException:
                with contextlib.suppress(sqlite3.OperationalError):  # no transaction began
                    await asyncio.shield(self._writer.execute("ROLLBACK"))
                raise
            await asyncio.shield(self._writer.execute("COMMIT"))

    async def serialise(self, db: aiosqlite.Connection, key: str) -> None:
        """Inside the open transaction `db`, wait until no other transaction holds `key`.

        Nothing to do here: BEGIN IMMEDIATE already holds SQLite's one write lock for every
        process on the file (PostgresViews takes a lock per key)."""

    async def script(self, sql: str) -> None:
        """Run DDL (schema creation) outside any transaction."""
        async with self._lock:
            await self._writer.executescript(sql)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query (committed data only)."""
        # One trip to aiosqlite's thread, where execute, fetch and close would take three.
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a read-only query, or None."""
        async with self._reader.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()


async def open_views(
    url: str | None, path: Path, *, schema: str | None = None
) -> "Views | PostgresViews":
    """The views database the configuration asks for, opened (its tables made or migrated).

    None, "" or a SQLite path/URL (`sqlite:…`, or anything without a scheme) gives the SQLite file
    at `path`, whatever path is named (as the chat view does). `postgresql://…` (or
    `postgres://…`) gives `PostgresViews`; `schema` (PostgreSQL only) puts its tables in a schema
    of their own.
    """
    scheme = url.split("://", 1)[0].lower() if url and "://" in url else ""
    if not url or not url.strip() or url.lower().startswith("sqlite:") or not scheme:
        return await Views.open(path)
    if scheme in ("postgresql", "postgres"):
        from projections.store_postgres import PostgresViews

        return await PostgresViews.open(url, schema=schema)
    from projections.store_postgres import ViewsConfigError

    raise ViewsConfigError(
        f"unsupported views URL scheme {scheme!r}: use a SQLite path or postgresql://…"
    )


class Checkpoints:
    """Checkpoint rows of one projection: `load` and `store`, nothing else."""

    def __init__(self, views: "Views | PostgresViews", projection: str) -> None:
        self._views = views
        self._projection = projection

    async def fence(self, db: aiosqlite.Connection, chapter: str) -> None:
        """Inside the open transaction `db`: hold this projection's lock on `chapter` until it
        ends, so that two processes' batches of one chapter run one after the other, the second
        reading what the first committed (a no-op on SQLite, whose writer is alone anyway)."""
        await self._views.serialise(db, f"{self._projection}:{chapter}")

    async def load(self, chapter: str) -> tuple[int, int] | None:
        """(rev, version) last stored for `chapter`, or None before the first batch."""
        row = await self._views.fetchone(
            "SELECT rev, version FROM checkpoints WHERE projection = ? AND chapter = ?",
            (self._projection, chapter),
        )
        return (row[0], row[1]) if row else None

    async def store(
        self,
        db: aiosqlite.Connection,
        chapter: str,
        rev: int,
        version: int,
        *,
        after: int | None = None,
    ) -> None:
        """Record `rev` for `chapter` inside the open transaction `db`.

        `after`: the rev the batch folded on from. If the stored checkpoint is elsewhere,
        another process folded this chapter meanwhile (a lease handed over while this one
        stalled): `CheckpointMoved` is raised, so the transaction and its writes roll back and
        nothing is applied twice. The writer holds SQLite's write lock (BEGIN IMMEDIATE), so
        the check and the write are one step for every process on the file; on PostgreSQL the
        check runs under the chapter's lock (`fence`), so it reads what any earlier holder
        committed and nobody moves the row before this transaction ends."""
        if after is not None:
            await self.fence(db, chapter)
            row = await (
                await db.execute(
                    "SELECT rev FROM checkpoints WHERE projection = ? AND chapter = ?",
                    (self._projection, chapter),
                )
            ).fetchone()
            stored = row[0] if row else 0
            if stored != after:
                raise CheckpointMoved(
                    f"{self._projection} checkpoint of chapter {chapter} is at rev {stored}, "
                    f"not {after}: another worker folded it meanwhile"
                )
        await db.execute(
            "INSERT INTO checkpoints (projection, chapter, rev, version) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (projection, chapter) DO UPDATE SET rev = excluded.rev, "
            "version = excluded.version",
            (self._projection, chapter, rev, version),
        )

    async def forget(self, db: aiosqlite.Connection, chapter: str) -> None:
        """Drop the checkpoint for `chapter` inside the open transaction `db`."""
        await db.execute(
            "DELETE FROM checkpoints WHERE projection = ? AND chapter = ?",
            (self._projection, chapter),
        )
