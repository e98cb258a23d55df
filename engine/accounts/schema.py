"""The accounts tables, written once with each dialect's type names, and the versioned migration.

Both backends keep their schema in `schema_version` (one row, one number) and run the steps of
`migrations` past it, inside a transaction the backend holds (SQLite's BEGIN IMMEDIATE,
PostgreSQL's advisory lock), so two processes opening a fresh database apply each step once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from engine.accounts import AccountStoreUnavailable

__all__ = ["Run", "migrate", "migrations"]

Run = Callable[[str, Sequence[Any]], Awaitable[Sequence[Any] | None]]
"""Runs one statement written with `?` placeholders; returns its first row, or None."""


def migrations(*, integer: str, blob: str, boolean: str, false: str) -> tuple[tuple[str, ...], ...]:
    """The schema steps in one dialect: step i takes the database from version i to i + 1.

    Append, never edit: a database records only how many steps it has applied.
    """
    return (
        (
            f"""CREATE TABLE users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                created_at {integer} NOT NULL,
                disabled {boolean} NOT NULL DEFAULT {false}
            )""",
            f"""CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                token_hash {blob} NOT NULL UNIQUE,
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                created_at {integer} NOT NULL,
                expires_at {integer},
                last_used_at {integer}
            )""",
            "CREATE INDEX api_tokens_user ON api_tokens (user_id)",
            f"""CREATE TABLE secrets (
                scope TEXT NOT NULL,
                name TEXT NOT NULL,
                ciphertext {blob} NOT NULL,
                updated_at {integer} NOT NULL,
                PRIMARY KEY (scope, name)
            )""",
            f"""CREATE TABLE share_tokens (
                share_id TEXT PRIMARY KEY,
                token_hash {blob} NOT NULL UNIQUE,
                chapter_id TEXT NOT NULL,
                mode TEXT NOT NULL,
                created_at {integer} NOT NULL
            )""",
        ),
    )


async def migrate(run: Run, steps: Sequence[Sequence[str]], where: str) -> None:
    """Bring the database `where` to `len(steps)`; refuse one a newer RagStack has migrated."""
    await run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", ())
    row = await run("SELECT version FROM schema_version", ())
    version = 0 if row is None else int(row[0])
    if version > len(steps):
        raise AccountStoreUnavailable(
            f"the accounts database {where} is at schema version {version}, newer"
            f" than this RagStack knows ({len(steps)}); upgrade RagStack"
        )
    for step in steps[version:]:
        for statement in step:
            await run(statement, ())
    if row is None:
        await run("INSERT INTO schema_version (version) VALUES (?)", (len(steps),))
    else:
        await run("UPDATE schema_version SET version = ?", (len(steps),))
