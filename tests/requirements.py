"""What a test needs from the machine (a Debian tool, PostgreSQL, …), checked in one place.

A developer's fresh machine may lack some of it: the test is then skipped with a reason that names
what to install. CI provides everything and sets `RAGSTACK_TEST_STRICT=1`, which turns each of
those skips into a failure, so a requirement CI forgot to provide cannot hide behind a skip.

    require_tool("catdoc", package="catdoc")
    missing_requirement("Chromium for Playwright", install="uv run playwright install chromium")

PostgreSQL is found through `RAGSTACK_TEST_POSTGRES_URL`; `require_postgres()` checks once per
session that it answers. The fixtures `postgres` and `pg_schema` (tests/conftest.py) wrap it.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from typing import NoReturn
from urllib.parse import urlsplit

import msgspec
import psycopg
import pytest
from psycopg import sql

STRICT_ENV = "RAGSTACK_TEST_STRICT"
POSTGRES_URL_ENV = "RAGSTACK_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_INSTALL = "apt-get install postgresql"

_PROBE_TIMEOUT_S = 3  # a server on this machine answers in milliseconds; a closed port at once


def strict() -> bool:
    """True when a missing requirement must fail the test (`RAGSTACK_TEST_STRICT=1`, as in CI)."""
    return os.environ.get(STRICT_ENV, "") == "1"


def missing_requirement(what: str, *, install: str, detail: str = "") -> NoReturn:
    """Skip the running test because `what` is missing, or fail it in strict mode.

    `install` is the command that provides it ("apt-get install catdoc"); `detail` says what was
    seen (an error message), for the reader who thought it was installed.
    """
    message = f"needs {what} ({install})" + (f": {detail}" if detail else "")
    if strict():
        pytest.fail(
            f"{message} [{STRICT_ENV}=1 makes a missing requirement a failure]", pytrace=False
        )
    # Reported at the test's own line rather than here, as a skip marker would be (pytest's
    # `_use_item_location`, which `pytest.skip()` does not expose).
    raise pytest.skip.Exception(message, _use_item_location=True)


def require_tool(program: str, *, package: str) -> str:
    """The path of `program` on PATH, else skip (or fail) naming the Debian `package` to install."""
    require_tools({program: package})
    return shutil.which(program) or program


def require_tools(tools: Mapping[str, str]) -> None:
    """Each program (key) on PATH, else skip (or fail) naming every Debian package (value) missing."""
    lacking = {program: package for program, package in tools.items() if not shutil.which(program)}
    if lacking:
        names = [p if p == program else f"{p} for {program}" for program, p in lacking.items()]
        missing_requirement(
            "Debian's " + ", ".join(names),
            install="apt-get install " + " ".join(dict.fromkeys(lacking.values())),
        )


# --- PostgreSQL ---------------------------------------------------------------------------------


class PostgresServer(msgspec.Struct, frozen=True, kw_only=True):
    """The PostgreSQL the tests use, from `RAGSTACK_TEST_POSTGRES_URL`."""

    url: str
    """A libpq URL, `postgresql://user@host:port/database`."""
    host: str
    """The host the URL names, for tests that open raw TCP connections to the server."""
    port: int
    """The URL's port (5432 when it names none)."""

    def with_database(self, database: str) -> str:
        """The same server and user, another database (which need not exist)."""
        return urlsplit(self.url)._replace(path=f"/{database}").geturl()

    def through(self, host: str, port: int) -> str:
        """The same user and database reached at another address (a proxy in front of the server)."""
        parts = urlsplit(self.url)
        userinfo, at, _ = parts.netloc.rpartition("@")
        address = f"[{host}]" if ":" in host else host
        return parts._replace(netloc=f"{userinfo}{at}{address}:{port}").geturl()


class PostgresSchema(msgspec.Struct, frozen=True, kw_only=True):
    """A schema of one test's own: pass both to the code under test (`schema=name`)."""

    url: str
    """The server's URL."""
    name: str
    """The schema, already created; dropped with everything in it after the test."""


def postgres_server() -> PostgresServer:
    """The configured server, without checking that it answers (for tests that never connect)."""
    url = os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL
    parts = urlsplit(url)
    return PostgresServer(url=url, host=parts.hostname or "localhost", port=parts.port or 5432)


@functools.cache
def _probe(url: str) -> str | None:
    """Why `url` cannot be used (None when it can): one quick connection, once per session."""
    try:
        with psycopg.connect(url, connect_timeout=_PROBE_TIMEOUT_S, autocommit=True):
            return None
    except psycopg.Error as error:
        lines = str(error).strip().splitlines()
        return lines[0] if lines else type(error).__name__


def require_postgres() -> PostgresServer:
    """The configured server once it has answered, else skip (or fail) naming PostgreSQL."""
    server = postgres_server()
    problem = _probe(server.url)
    if problem is not None:
        where = "set by" if os.environ.get(POSTGRES_URL_ENV) else "the default; set"
        missing_requirement(
            "PostgreSQL",
            install=POSTGRES_INSTALL,
            detail=f"{server.host}:{server.port} ({where} {POSTGRES_URL_ENV}): {problem}",
        )
    return server


def schema_of_its_own(admin: psycopg.Connection, url: str) -> Iterator[PostgresSchema]:
    """Create a uniquely named schema, yield it, drop it CASCADE (the body of `pg_schema`)."""
    name = f"rs_test_{secrets.token_hex(6)}"
    admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield PostgresSchema(url=url, name=name)
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
