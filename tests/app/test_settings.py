"""Configuration: file, environment and flags, in that order of strength."""

from pathlib import Path

import pytest

from app.settings import ConfigError, load_settings


def test_defaults_work_without_any_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.nats.url is None  # the embedded server
    assert settings.data == Path("~/.local/share/ragstack").expanduser()


def test_file_then_environment_then_flags(tmp_path):
    config = tmp_path / "ragstack.toml"
    config.write_text('port = 9000\ndata_dir = "/srv/rs"\n[nats]\nurl = "nats://a:4222"\n')
    env = {"RAGSTACK_NATS_URL": "nats://b:4222", "RAGSTACK_LIMITS_UPLOAD_BYTES": "1024"}
    settings = load_settings(config, environ=env, port=9100, host=None)
    assert settings.nats.url == "nats://b:4222"  # environment beats the file
    assert settings.port == 9100  # a flag beats both
    assert settings.host == "127.0.0.1"  # an unset flag changes nothing
    assert settings.limits.upload_bytes == 1024
    assert settings.data == Path("/srv/rs")


def test_ragstack_data_is_an_alias_for_the_data_dir():
    assert load_settings(environ={"RAGSTACK_DATA": "/x"}).data == Path("/x")


def test_a_bad_value_names_the_field():
    with pytest.raises(ConfigError, match="port"):
        load_settings(environ={"RAGSTACK_PORT": "eighty"})


def test_an_unknown_key_in_the_file_is_an_error(tmp_path):
    config = tmp_path / "ragstack.toml"
    config.write_text("prot = 9000\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(config, environ={})


def test_broken_toml_is_a_clear_error(tmp_path):
    config = tmp_path / "ragstack.toml"
    config.write_text("port = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, environ={})


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_a_path_given_by_a_flag_is_accepted(tmp_path):
    assert load_settings(environ={}, data_dir=tmp_path).data == tmp_path


def test_fetching_from_private_addresses_is_off_unless_the_operator_turns_it_on(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no ragstack.toml of the checkout's
    assert load_settings(environ={}).web.allow_private_addresses is False
    config = tmp_path / "ragstack.toml"
    config.write_text("[web]\nallow_private_addresses = true\n")
    assert load_settings(config, environ={}).web.allow_private_addresses is True
    # The environment beats the file, in both directions.
    off = {"RAGSTACK_WEB_ALLOW_PRIVATE_ADDRESSES": "false"}
    assert load_settings(config, environ=off).web.allow_private_addresses is False
    on = {"RAGSTACK_WEB_ALLOW_PRIVATE_ADDRESSES": "true"}
    assert load_settings(environ=on).web.allow_private_addresses is True


def test_a_misspelt_web_setting_is_an_error(tmp_path):
    config = tmp_path / "ragstack.toml"
    config.write_text("[web]\nallow_private_address = true\n")
    with pytest.raises(ConfigError, match="allow_private_address"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match=r"\$\.web\.allow_private_addresses"):
        load_settings(environ={"RAGSTACK_WEB_ALLOW_PRIVATE_ADDRESSES": "perhaps"})


def test_oauth_clients_nest_in_the_file_and_the_environment(tmp_path):
    config = tmp_path / "ragstack.toml"
    config.write_text('[connectors.oauth.google]\nclient_id = "from-file"\n')
    env = {
        "RAGSTACK_CONNECTORS_OAUTH_GOOGLE_CLIENT_SECRET": "s3cret",
        "RAGSTACK_CONNECTORS_OAUTH_MICROSOFT_DEVICE_URL": "",
        "RAGSTACK_CONNECTORS_OAUTH_REDIRECT_URI": "https://rs.example.org/v1/connectors/oauth/callback",
        "RAGSTACK_CONNECTORS_OAUTH_GOOGLE_NO_SUCH_FIELD": "ignored, as at the top level",
    }
    oauth = load_settings(config, environ=env).connectors.oauth
    assert (oauth.google.client_id, oauth.google.client_secret) == ("from-file", "s3cret")
    assert oauth.microsoft.device_url == "" and oauth.dropbox.client_id is None
    assert oauth.redirect_uri == "https://rs.example.org/v1/connectors/oauth/callback"


def test_the_bundled_embedders_precision_is_a_setting(tmp_path):
    from app.configured import embedder_from

    settings = load_settings(environ={}, data_dir=str(tmp_path))
    assert settings.embedder.precision == "auto"
    chosen = load_settings(environ={"RAGSTACK_EMBEDDER_PRECISION": "int8"}, data_dir=str(tmp_path))
    embedder = embedder_from(chosen.embedder, chosen)
    assert embedder.model == "local:all-MiniLM-L6-v2@int8"  # its identity, before any load
    assert embedder.cache_dir == tmp_path / "models"  # type: ignore[attr-defined]
    wrong = load_settings(environ={"RAGSTACK_EMBEDDER_PRECISION": "int4"}, data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"embedder\.precision must be one of auto, int8, fp32"):
        embedder_from(wrong.embedder, wrong)
    with pytest.raises(ConfigError, match="precision"):  # an [llm] has no precision
        load_settings(environ={}, data_dir=str(tmp_path), llm={"kind": "auto", "precision": "x"})
