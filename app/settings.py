"""Configuration: `ragstack.toml` decoded with msgspec, overridden by `RAGSTACK_*` variables.

An environment variable names a field by its path in upper case joined by underscores:
`RAGSTACK_PORT=9000`, `RAGSTACK_NATS_URL=nats://10.0.0.5:4222`, `RAGSTACK_LIMITS_UPLOAD_BYTES=1000`,
`RAGSTACK_WEB_ALLOW_PRIVATE_ADDRESSES=true`.
`RAGSTACK_DATA` is a short alias for `RAGSTACK_DATA_DIR`. Nothing is read at import time.

Each section is defined by the layer it configures (engine/settings.py: `[nats]`, `[limits]`,
`[web]`; projections/settings.py: `[embedder]`, `[llm]`, `[vectors]`); this module assembles them
into `Settings` and reads the file and the environment.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from engine.settings import Limits, NatsSettings, WebSettings
from projections.settings import (
    EmbedderSettings,
    ProviderSettings,
    RerankSettings,
    VectorSettings,
)

__all__ = [
    "CONFIG_NAME",
    "ENV_PREFIX",
    "ConfigError",
    "ConnectorSettings",
    "Limits",
    "NatsSettings",
    "OAuthClientSettings",
    "OAuthSettings",
    "ProviderSettings",
    "Settings",
    "SharingSettings",
    "VectorSettings",
    "WebSettings",
    "load_settings",
]

ENV_PREFIX = "RAGSTACK_"
CONFIG_NAME = "ragstack.toml"


class SharingSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Sharing between servers (`[sharing]`)."""

    allow_private_peers: bool = False
    """Let guests accept shares from servers on loopback or private networks (and owners'
    servers be reached there). Off by default, as `[web] allow_private_addresses` is: a server
    that calls the URLs its users give must not become their way into its own network."""
    tick_s: float | None = None
    """Override the proxied relay's tick (60 s on paid plans, 600 s on free), at least 1 s: for
    tests and demos."""


class OAuthClientSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One OAuth provider's client, registered by the operator with the provider
    (`[connectors.oauth.google]`, `…dropbox]`, `…microsoft]`; docs/connectors.md). The endpoints
    default to the provider's own; tests and proxies point them elsewhere."""

    client_id: str | None = None
    """The client (application) id the provider issued; None: the provider is not offered."""
    client_secret: str | None = None
    """Its secret (`RAGSTACK_CONNECTORS_OAUTH_GOOGLE_CLIENT_SECRET`, …): never shown or logged."""
    auth_url: str | None = None
    """The authorization endpoint the person's browser is sent to."""
    token_url: str | None = None
    """The token endpoint (code exchange, refresh, device polling)."""
    device_url: str | None = None
    """The device authorization endpoint (RFC 8628) the CLI's flow starts at; "" turns it off."""
    api_url: str | None = None
    """The service's API (Drive, Graph, Dropbox's api host)."""
    content_url: str | None = None
    """Dropbox only: the host files are downloaded from."""


class OAuthSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The OAuth clients connectors use (`[connectors.oauth]`)."""

    redirect_uri: str | None = None
    """The callback URL registered with every provider
    (`https://<server>/v1/connectors/oauth/callback`); None: derived from each request's own
    address, which is right unless a proxy rewrites the host."""
    web_url: str = ""
    """Where the callback sends the browser back to: the web app's origin ("" is this server)."""
    google: OAuthClientSettings = OAuthClientSettings()
    dropbox: OAuthClientSettings = OAuthClientSettings()
    microsoft: OAuthClientSettings = OAuthClientSettings()


class ConnectorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Connectors: remote libraries kept in step with chapters (`[connectors]`)."""

    local_root: Path | None = None
    """The only directory under which the server reads a Zotero data directory itself (None:
    it reads none; users sync their own with `ragstack sync --zotero-dir`)."""
    sync_interval_s: float = 3600.0
    """How often the worker syncs every connector the server reaches itself (0: never)."""
    zotero_api_url: str = "https://api.zotero.org"
    """The Zotero Web API a connector uses unless it names its own `base_url`."""
    oauth: OAuthSettings = OAuthSettings()
    """The operator's OAuth clients for Google Drive, Dropbox and OneDrive."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything `ragstack serve` needs; every field has a default that works on one machine."""

    data_dir: Path = Path("~/.local/share/ragstack")
    """Where the embedded parts keep their state: JetStream store, blobs, SQLite, Chroma."""
    host: str = "127.0.0.1"
    """Gateway bind address."""
    port: int = 8000
    """Gateway port."""
    role: Literal["all", "gateway", "worker"] = "all"
    """Which parts this process runs."""
    nats: NatsSettings = NatsSettings()
    """The log."""
    blobs: str | None = None
    """Blob store: a directory or `s3://bucket/prefix?endpoint=…`; None is `<data_dir>/blobs`."""
    accounts: str | None = None
    """Accounts store: `postgresql://…` or a SQLite path; None is `<data_dir>/accounts.sqlite3`."""
    views: str | None = None
    """Read models (views, lexical index, chat), their checkpoints and the embedding cache: like
    `accounts`; None is `<data_dir>/views.sqlite3` (and `embeddings.sqlite3`)."""
    vectors: VectorSettings = VectorSettings()
    """The vector index."""
    embedder: EmbedderSettings = EmbedderSettings()
    """Embeddings; auto is the local offline model."""
    llm: ProviderSettings = ProviderSettings()
    """Answers; auto is Ollama when reachable, else extractive answers."""
    rerank: RerankSettings = RerankSettings()
    """Reranking of retrieved passages by a service; none by default."""
    limits: Limits = Limits()
    """Request and event limits."""
    web: WebSettings = WebSettings()
    """Web page fetching."""
    sharing: SharingSettings = SharingSettings()
    """Sharing between servers."""
    connectors: ConnectorSettings = ConnectorSettings()
    """Connectors (Zotero…): where the server may read, how often it syncs."""
    operators: list[str] = []
    """E-mail addresses of the server's operators: they alone set a book's plan
    (`RAGSTACK_OPERATORS=a@example.org,b@example.org`)."""

    @property
    def data(self) -> Path:
        """The data directory, with `~` expanded."""
        return self.data_dir.expanduser()


class ConfigError(ValueError):
    """The configuration file or an environment variable is invalid."""


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nest `RAGSTACK_A_B=v` into {"a": {"b": "v"}} following the Settings field tree."""
    overrides: dict[str, Any] = {}
    if "RAGSTACK_DATA" in environ:
        overrides["data_dir"] = environ["RAGSTACK_DATA"]
    sections = {
        f.name: f.type
        for f in msgspec.structs.fields(Settings)
        if isinstance(f.type, type) and issubclass(f.type, msgspec.Struct)
    }
    scalars = {f.name for f in msgspec.structs.fields(Settings)} - sections.keys()
    lists = {f.name for f in msgspec.structs.fields(Settings) if f.type == list[str]}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == "RAGSTACK_DATA":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in scalars:
            listed = name in lists  # a list in one variable: comma-separated
            overrides[name] = (
                [v.strip() for v in value.split(",") if v.strip()] if listed else value
            )
            continue
        for section, section_type in sections.items():
            if name.startswith(section + "_"):
                _nest(overrides.setdefault(section, {}), section_type, name[len(section) + 1 :],
                      value)  # fmt: skip
                break
    return overrides


def _nest(into: dict[str, Any], struct: type, name: str, value: str) -> None:
    """Put `value` at the field `name` names inside `struct`, descending into nested sections
    (`connectors_oauth_google_client_id` → connectors.oauth.google.client_id); an unknown name is
    ignored, as at the top level."""
    fields = msgspec.structs.fields(struct)
    for f in fields:
        if f.name == name:
            into[f.name] = value
            return
    for f in fields:
        nested = isinstance(f.type, type) and issubclass(f.type, msgspec.Struct)
        if nested and name.startswith(f.name + "_"):
            _nest(into.setdefault(f.name, {}), f.type, name[len(f.name) + 1 :], value)
            return


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from `path` (or `./ragstack.toml` if present), then the environment, then `overrides`.

    `overrides` are what command-line flags set; None values are ignored.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    config = path or (Path(environ["RAGSTACK_CONFIG"]) if "RAGSTACK_CONFIG" in environ else None)
    if config is None and Path(CONFIG_NAME).is_file():
        config = Path(CONFIG_NAME)
    if config is not None:
        try:
            raw = msgspec.toml.decode(config.read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"configuration file {config} does not exist") from None
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{config} is not valid TOML: {exc}") from None
    raw = _merge(raw, _env_overrides(environ))
    raw = _merge(raw, {k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _dec_hook(tp: type, value: Any) -> Any:
    if tp is Path and isinstance(value, str | os.PathLike):
        return Path(value)
    raise NotImplementedError
