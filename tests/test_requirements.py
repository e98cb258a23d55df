"""tests/requirements.py: a missing requirement skips naming what to install, or fails when strict."""

import socket
from pathlib import Path

import pytest

from tests.requirements import (
    POSTGRES_URL_ENV,
    STRICT_ENV,
    missing_requirement,
    postgres_server,
    require_postgres,
    require_tool,
    require_tools,
)


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH is one directory holding only `present-tool`, so any other program is missing."""
    tool = tmp_path / "present-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STRICT_ENV, raising=False)


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STRICT_ENV, "1")


def test_a_missing_requirement_skips_with_the_install_command(lenient):
    with pytest.raises(pytest.skip.Exception) as skipped:
        missing_requirement("Chromium", install="uv run playwright install chromium")

    assert str(skipped.value) == "needs Chromium (uv run playwright install chromium)"


def test_under_strict_a_missing_requirement_fails_with_the_same_message(strict):
    with pytest.raises(pytest.fail.Exception) as failed:
        missing_requirement("Chromium", install="uv run playwright install chromium", detail="x")

    assert str(failed.value).startswith("needs Chromium (uv run playwright install chromium): x")
    assert STRICT_ENV in str(failed.value)


@pytest.mark.parametrize("value", ["", "0", "yes"])
def test_only_the_value_1_is_strict(value, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, value)

    with pytest.raises(pytest.skip.Exception):
        missing_requirement("Chromium", install="x")


def test_a_tool_on_path_is_found(bare_path, strict):
    assert require_tool("present-tool", package="present") == str(bare_path / "present-tool")


def test_a_missing_tool_names_its_debian_package(bare_path, lenient):
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_tool("wpd2text", package="libwpd-tools")

    assert str(skipped.value) == (
        "needs Debian's libwpd-tools for wpd2text (apt-get install libwpd-tools)"
    )


def test_several_missing_tools_are_named_together(bare_path, strict):
    tools = {"catdoc": "catdoc", "present-tool": "present", "wpd2text": "libwpd-tools"}

    with pytest.raises(pytest.fail.Exception) as failed:
        require_tools(tools)

    assert str(failed.value).startswith(
        "needs Debian's catdoc, libwpd-tools for wpd2text (apt-get install catdoc libwpd-tools)"
    )


def test_postgres_url_host_and_port_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql://me:pw@db.example:6543/ragstack")

    server = postgres_server()

    assert (server.url, server.host, server.port) == (
        "postgresql://me:pw@db.example:6543/ragstack",
        "db.example",
        6543,
    )
    assert server.with_database("other") == "postgresql://me:pw@db.example:6543/other"
    assert server.through("127.0.0.1", 7000) == "postgresql://me:pw@127.0.0.1:7000/ragstack"


def test_postgres_url_defaults_to_the_local_test_database(monkeypatch):
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)

    server = postgres_server()

    assert server.url == "postgresql://postgres@127.0.0.1:5432/test"
    assert (server.host, server.port) == ("127.0.0.1", 5432)


@pytest.mark.parametrize("mode", ["lenient", "strict"])
def test_an_unreachable_postgres_names_postgresql(mode, request, monkeypatch):
    request.getfixturevalue(mode)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket closes
    monkeypatch.setenv(POSTGRES_URL_ENV, f"postgresql://postgres@127.0.0.1:{port}/test")
    expected = pytest.fail.Exception if mode == "strict" else pytest.skip.Exception

    with pytest.raises(expected) as missing:
        require_postgres()

    assert str(missing.value).startswith("needs PostgreSQL (apt-get install postgresql): ")
    assert f"127.0.0.1:{port}" in str(missing.value)


def test_a_schema_of_its_own_exists_during_the_test(pg_schema, postgres_admin):
    query = "SELECT count(*) FROM pg_namespace WHERE nspname = %s"
    assert postgres_admin.execute(query, (pg_schema.name,)).fetchone() == (1,)
