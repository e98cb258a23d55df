"""The accounts store on SQLite (aiosqlite): the embedded default.

One connection in autocommit mode: every statement is its own transaction, so coroutines that
share the connection never share a transaction. WAL lets other processes read while one writes;
a busy timeout makes concurrent writers wait instead of failing. The file is created 0600 (it
holds password hashes), and SQLite gives its -wal and -shm files the same mode.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from engine.accounts import AccountStoreUnavailable
from engine.accounts.passwords import Passwords
from engine.accounts.secrets import SecretBox
from engine.accounts.store import Clock, Conflict, SqlAccountStore

__all__ = ["MIGRATIONS", "SqliteAccountStore"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            token_hash BLOB NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            last_used_at INTEGER
        )""",
        "CREATE INDEX api_tokens_user ON api_tokens (user_id)",
        """CREATE TABLE secrets (
            scope TEXT NOT NULL,
            name TEXT NOT NULL,
            ciphertext BLOB NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (scope, name)
        )""",
        """CREATE TABLE share_tokens (
            share_id TEXT PRIMARY KEY,
            token_hash BLOB NOT NULL UNIQUE,
            chapter_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )""",
    ),
)
"""Schema steps; step i takes the database from version i to i + 1. Append, never edit."""

_BUSY_TIMEOUT_MS = 10_000


class SqliteAccountStore(SqlAccountStore):
    """AccountStore on one SQLite file."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        location: str,
        secret_box: SecretBox,
        *,
        passwords: Passwords | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Use `open`; this takes an already migrated connection."""
        super().__init__(secret_box, passwords=passwords, clock=clock)
        self._db = db
        self._location = location

    def __repr__(self) -> str:
        return f"SqliteAccountStore({self._location!r})"

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        secret_box: SecretBox,
        *,
        passwords: Passwords | None = None,
        clock: Clock | None = None,
    ) -> SqliteAccountStore:
        """Open (creating and migrating as needed) the database at `path` (or ":memory:")."""
        location = os.fspath(path)
        if location != ":memory:":
            _create_private(Path(location))
        try:
            db = await aiosqlite.connect(location, isolation_level=None)
        except sqlite3.Error as exc:
            raise AccountStoreUnavailable(
                f"the accounts database {location} cannot be opened: {exc}"
            ) from None
        try:
            await db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA journal_mode = WAL")
            # FULL: an acknowledged sign-up or token survives a power cut.
            await db.execute("PRAGMA synchronous = FULL")
            await db.execute("PRAGMA foreign_keys = ON")
            await _migrate(db)
        except sqlite3.Error as exc:
            await db.close()
            raise AccountStoreUnavailable(
                f"the accounts database {location} cannot be used: {exc}"
            ) from None
        except BaseException:
            await db.close()
            raise
        return cls(db, location, secret_box, passwords=passwords, clock=clock)

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with _translated():
            cursor = await self._db.execute(sql, params)
            rowcount = cursor.rowcount
            await cursor.close()
            return rowcount

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        with _translated():
            async with self._db.execute(sql, params) as cursor:
                return await cursor.fetchone()

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with _translated():
            async with self._db.execute(sql, params) as cursor:
                return list(await cursor.fetchall())

    async def _close(self) -> None:
        with contextlib.suppress(ValueError):  # already closed
            await self._db.close()


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """The store's own errors for SQLite's: a broken constraint, a failure, a closed store."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise Conflict(str(exc)) from None
    except sqlite3.Error as exc:
        raise AccountStoreUnavailable(f"the accounts database failed: {exc}") from None
    except ValueError:  # aiosqlite's word for a closed connection
        raise AccountStoreUnavailable("the accounts database is closed") from None


def _create_private(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        raise AccountStoreUnavailable(
            f"the accounts database {path} cannot be created: {exc.strerror or exc}"
        ) from None


async def _migrate(db: aiosqlite.Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh file
    # cannot both apply step 1.
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with db.execute("SELECT version FROM schema_version") as cursor:
            row = await cursor.fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(MIGRATIONS):
            raise AccountStoreUnavailable(
                f"the accounts database is at schema version {version}, newer than this"
                f" RagStack knows ({len(MIGRATIONS)}); upgrade RagStack"
            )
        for step in MIGRATIONS[version:]:
            for statement in step:
                await db.execute(statement)
        if row is None:
            await db.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS),))
        else:
            await db.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
