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
from engine.accounts.schema import migrate, migrations
from engine.accounts.secrets import SecretBox
from engine.accounts.store import Clock, Conflict, SqlAccountStore

__all__ = ["MIGRATIONS", "SqliteAccountStore"]

MIGRATIONS = migrations(integer="INTEGER", blob="BLOB", boolean="INTEGER", false="0")
"""The schema steps in SQLite's dialect."""

_BUSY_TIMEOUT_MS = 10_000


class SqliteAccountStore(SqlAccountStore[aiosqlite.Connection]):
    """AccountStore on one SQLite file."""

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
            await db.execute("PRAGMA secure_delete = ON")  # an erased profile leaves no trace
            await _migrate(db, location)
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


async def _migrate(db: aiosqlite.Connection, location: str) -> None:
    async def run(query: str, params: Sequence[Any]) -> Sequence[Any] | None:
        async with db.execute(query, params) as cursor:
            return await cursor.fetchone()

    # BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh file
    # cannot both apply step 1.
    await db.execute("BEGIN IMMEDIATE")
    try:
        await migrate(run, MIGRATIONS, location)
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
