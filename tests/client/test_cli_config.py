"""client/config.py: where `ragstack login` keeps the URL and token, and what overrides it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from client.config import (
    ConfigError,
    Credentials,
    clear_credentials,
    credentials_path,
    load_credentials,
    save_credentials,
)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), **extra}


def test_saved_credentials_are_owner_only_and_load_back(tmp_path):
    env = env_for(tmp_path)
    saved = Credentials(
        url="http://h:8000", token="rs_secret", email="a@example.com", token_id="t1"
    )

    path = save_credentials(saved, env)

    assert path == tmp_path / "cfg" / "ragstack" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_credentials(env) == saved
    assert not list(path.parent.glob(".*tmp")), "no temporary file is left behind"


def test_default_location_is_under_dot_config(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert credentials_path({}) == tmp_path / ".config" / "ragstack" / "credentials.json"


def test_nothing_saved_and_no_environment_is_none(tmp_path):
    assert load_credentials(env_for(tmp_path)) is None


def test_environment_overrides_the_file(tmp_path):
    env = env_for(tmp_path)
    save_credentials(Credentials(url="http://saved:8000", token="rs_saved"), env)

    both = load_credentials({**env, "RAGSTACK_URL": "http://ci:9000", "RAGSTACK_TOKEN": "rs_ci"})
    assert both == Credentials(url="http://ci:9000", token="rs_ci")

    token_only = load_credentials({**env, "RAGSTACK_TOKEN": "rs_ci"})
    assert token_only == Credentials(url="http://saved:8000", token="rs_ci")

    # The saved token belongs to the saved server: another URL does not inherit it.
    other_url = load_credentials({**env, "RAGSTACK_URL": "http://elsewhere:8000"})
    assert other_url == Credentials(url="http://elsewhere:8000", token=None)

    same_url = load_credentials({**env, "RAGSTACK_URL": "http://saved:8000/"})
    assert same_url is not None and same_url.token == "rs_saved"


def test_damaged_file_is_a_clear_error(tmp_path):
    env = env_for(tmp_path)
    path = credentials_path(env)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")

    with pytest.raises(ConfigError, match="damaged"):
        load_credentials(env)


def test_clear_removes_the_file_once(tmp_path):
    env = env_for(tmp_path)
    save_credentials(Credentials(url="http://h:8000", token="rs_x"), env)

    assert clear_credentials(env) is True
    assert clear_credentials(env) is False
    assert load_credentials(env) is None
