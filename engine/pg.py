"""PostgreSQL set-up shared by the stores that live there (accounts, the chat view)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql


@asynccontextmanager
async def setup_transaction(
    url: str,
    kwargs: dict[str, Any],
    *,
    schema: str | None,
    lock: str,
    wait_s: float,
    unavailable: Callable[[str], Exception],
) -> AsyncIterator[psycopg.AsyncConnection]:
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
