"""open_services / Services.close: the accounts store where the settings say, with its key."""

from __future__ import annotations

import stat
import sys

import msgspec
import pytest

from app.configured import index_from
from app.services import open_services
from app.settings import ConfigError, Settings, load_settings
from engine.accounts import AccountStoreConfigError


async def test_the_default_store_lives_in_the_data_directory(tmp_path, passwords):
    data = tmp_path / "data"
    services = await open_services(Settings(data_dir=data), passwords=passwords)
    try:
        user = await services.accounts.create_user("ada@example.org", "correct horse battery")
        # The secret key was created beside it, private to its owner.
        key = data / "secret.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert (data / "accounts.sqlite3").is_file()
        checks = [await check() for check in services.readiness_checks]
        assert ("accounts", True, "reachable") in checks
        assert all(ok for _, ok, _ in checks), checks
        # The rest of the embedded system lives there too.
        assert (data / "nats").is_dir() and (data / "views.sqlite3").is_file()
    finally:
        await services.close()

    # Reopened, the same store (and the same key) is there.
    again = await open_services(Settings(data_dir=data), passwords=passwords)
    try:
        assert (await again.accounts.get_user(user.id)).email == "ada@example.org"
    finally:
        await again.close()


async def test_settings_accounts_names_another_store(tmp_path, passwords):
    elsewhere = tmp_path / "elsewhere" / "users.db"
    services = await open_services(
        Settings(data_dir=tmp_path / "data", accounts=str(elsewhere)), passwords=passwords
    )
    try:
        await services.accounts.create_user("bob@example.org", "correct horse battery")
    finally:
        await services.close()
    assert elsewhere.is_file()
    assert not (tmp_path / "data" / "accounts.sqlite3").exists()


async def test_an_unusable_store_url_is_a_clear_error(tmp_path):
    with pytest.raises(AccountStoreConfigError, match="unsupported accounts store scheme"):
        await open_services(Settings(data_dir=tmp_path, accounts="mysql://db/accounts"))


async def test_unreachable_postgresql_views_stop_the_start_naming_where_not_the_password(
    tmp_path, passwords
):
    from projections.store_postgres import ViewsConfigError, ViewsUnavailable

    views = "postgresql://ragstack:hunter2@127.0.0.1:1/readmodels"  # a closed port
    with pytest.raises(ViewsUnavailable) as raised:
        await open_services(Settings(data_dir=tmp_path, views=views), passwords=passwords)
    assert "views database at 127.0.0.1:1/readmodels" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert not (tmp_path / "views.sqlite3").exists()
    with pytest.raises(ViewsConfigError, match="unsupported views URL scheme 'mysql'"):
        await open_services(Settings(data_dir=tmp_path, views="mysql://db/views"))


async def test_a_pinecone_index_without_its_extra_names_the_extra(tmp_path, monkeypatch):

    settings = load_settings(environ={}, data_dir=str(tmp_path))
    wanted = msgspec.structs.replace(
        settings.vectors, kind="pinecone", url="http://127.0.0.1:1", api_key="k"
    )
    # The SDK is absent: its import fails as it would on an install without the extra.
    monkeypatch.setitem(sys.modules, "projections.vectorstores.pinecone", None)
    with pytest.raises(ConfigError, match=r"ragstack\[pinecone\]"):
        index_from(wanted, settings)
