"""The accounts store on PostgreSQL (psycopg 3, async, with a psycopg_pool connection pool).

Connections are autocommit: like the SQLite backend, every statement is its own transaction.
Opening, migrations (under an advisory lock, before the pool starts), the optional `schema` and
the translation of connection errors are `engine.pg.PgDatabase`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack

import psycopg
import psycopg.errors

from engine.accounts import AccountStoreConfigError, AccountStoreUnavailable
from engine.accounts.passwords import Passwords
from engine.accounts.schema import migrate, migrations
from engine.accounts.secrets import SecretBox
from engine.accounts.store import Clock, Conflict, SqlAccountStore
from engine.pg import PgDatabase, PoolOptions, pg_query

__all__ = ["MIGRATIONS", "PostgresAccountStore"]

MIGRATIONS = migrations(integer="BIGINT", blob="BYTEA", boolean="BOOLEAN", false="FALSE")
"""The schema steps in PostgreSQL's dialect."""


class PostgresAccountStore(SqlAccountStore[PgDatabase]):
    """AccountStore on a PostgreSQL database."""

    @classmethod
    async def open(
        cls,
        url: str,
        secret_box: SecretBox,
        *,
        passwords: Passwords | None = None,
        clock: Clock | None = None,
        **pool: Unpack[PoolOptions],
    ) -> PostgresAccountStore:
        """Connect, migrate and start a pool; AccountStoreUnavailable if the server cannot be used.

        `pool` is `PgDatabase.open`'s, with up to 10 connections unless `max_size` says
        otherwise: `connect_timeout` bounds each connection attempt; `pool_timeout` bounds how
        long an operation waits for a working connection (e.g. while the server is down) before
        it raises AccountStoreUnavailable.
        """
        pool.setdefault("max_size", 10)
        db = await PgDatabase.open(
            url,
            label="accounts",
            lock="ragstack.accounts.migrate",
            prepare=_migrate,
            config_error=AccountStoreConfigError,
            unavailable=AccountStoreUnavailable,
            **pool,
        )
        return cls(db, db.where, secret_box, passwords=passwords, clock=clock)

    async def _run(self, query: str, params: Sequence[Any], fetch: str) -> Any:
        try:
            async with self._db.connection() as conn:
                cursor = await conn.execute(pg_query(query), params)
                if fetch == "one":
                    return await cursor.fetchone()
                if fetch == "all":
                    return await cursor.fetchall()
                return cursor.rowcount
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(str(exc)) from None

    async def _execute(self, query: str, params: Sequence[Any] = ()) -> int:
        return int(await self._run(query, params, "none"))

    async def _fetchone(self, query: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        return await self._run(query, params, "one")

    async def _fetchall(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._run(query, params, "all"))

    async def _close(self) -> None:
        await self._db.close()


async def _migrate(conn: psycopg.AsyncConnection[Any], where: str) -> None:
    async def run(query: str, params: Sequence[Any]) -> Sequence[Any] | None:
        cursor = await conn.execute(pg_query(query), params)
        return await cursor.fetchone() if cursor.description else None

    await migrate(run, MIGRATIONS, f"at {where}")
