"""Public shapes of connectors (gateway/routes/connectors.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ConnectorCreate",
    "ConnectorList",
    "ConnectorPublic",
    "HeldItemPublic",
    "HeldItems",
    "ItemErrorPublic",
    "OAuthDeviceStarted",
    "OAuthFlowStatus",
    "OAuthProviderPublic",
    "OAuthProviders",
    "OAuthStart",
    "OAuthStarted",
    "SyncReportPublic",
]


class ConnectorCreate(BaseModel):
    """A connector to configure. `zotero`: the Web API (`library`, `api_key`, optional
    `base_url`); `confluence`: a space (`base_url`, `library` = the space key, `api_key`, `email` for
    Cloud); `notion`: the pages shared with an integration (`api_key`); `zotero_dir` (a Zotero
    data directory) and `obsidian` (an Obsidian vault): read by the server under the operator's
    `[connectors] local_root` (`path`) or, without a path, synced by the user's CLI."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)

    kind: Literal["zotero", "zotero_dir", "confluence", "notion", "obsidian"]
    """Which service (google_drive, dropbox and onedrive are connected by signing in:
    POST …/connectors/oauth/{provider}/start)."""
    library: Annotated[str, Field(max_length=255)] | None = None
    """Zotero: users/<id> or groups/<id>; Confluence: the space key."""
    api_key: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    """Zotero: the API key (write-only: it is stored encrypted and never shown again)."""
    base_url: Annotated[str, Field(max_length=2000)] | None = None
    """The service's address, for a self-hosted or test server (default: the public one)."""
    path: Annotated[str, Field(max_length=4096)] | None = None
    """zotero_dir, obsidian: the folder, under the operator's local_root."""
    email: Annotated[str, Field(max_length=320)] | None = None
    """Confluence Cloud: the e-mail address of the API token's account."""


class ItemErrorPublic(BaseModel):
    """An item a sync could not bring in."""

    model_config = ConfigDict(from_attributes=True)

    ref: str
    code: str
    message: str


class SyncReportPublic(BaseModel):
    """What one sync did: items listed, events appended by kind, per-item errors."""

    model_config = ConfigDict(from_attributes=True)

    cursor: str | None = None
    listed: int = 0
    added: int = 0
    revised: int = 0
    retagged: int = 0
    described: int = 0
    removed: int = 0
    rejected: int = 0
    appended: int = 0
    rev: int | None = None
    errors: list[ItemErrorPublic] = []
    error_count: int = 0


class ConnectorPublic(BaseModel):
    """A connector, its status, cursor, last run and per-item errors (never its credential)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    id: str
    chapter: str
    kind: str
    library: str | None = None
    base_url: str | None = None
    path: str | None = None
    email: str | None = None
    pushed: bool
    """Synced from the user's machine (ragstack sync --zotero-dir or --obsidian-vault)."""
    has_credential: bool
    status: str
    """new, running, ok, failed, credential_rejected."""
    cursor: str | None = None
    last_run_at: int | None = None
    """Unix ms."""
    last_error: str | None = None
    last_error_code: str | None = None
    report: SyncReportPublic | None = None


class ConnectorList(BaseModel):
    connectors: list[ConnectorPublic]


class HeldItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ref: str
    source: str
    blob: str
    removed: bool


class HeldItems(BaseModel):
    """What a connector has brought into the chapter, by remote ref."""

    items: list[HeldItemPublic]


class OAuthProviderPublic(BaseModel):
    """A service connected by signing in, and whether this server's operator has set it up."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    name: Literal["google", "dropbox", "microsoft"]
    """The provider, as the routes name it."""
    kind: str
    """The connector kind it makes: google_drive, dropbox, onedrive."""
    title: str
    configured: bool
    """False: the operator has registered no client (Connect would answer 409)."""
    device_flow: bool
    """The CLI can sign in with a code (else it prints a link to open in a browser)."""
    scopes: list[str]
    """The read-only scopes asked for."""


class OAuthProviders(BaseModel):
    providers: list[OAuthProviderPublic]


class OAuthStart(BaseModel):
    """The folder to keep in step with the chapter."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)

    library: Annotated[str, Field(max_length=1000)] | None = None
    """google: a folder's id (default root, My Drive); dropbox: a folder's path like /Research
    (default: all of it); microsoft: a folder's item id (default: the whole OneDrive)."""
    connector: Annotated[str, Field(max_length=64)] | None = None
    """Reconnect this connector (its sign-in was refused): the new tokens replace its
    credential, its library and sources stay. None: a new connector."""


class OAuthStarted(BaseModel):
    """A sign-in begun: send the person's browser to `authorize_url`."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    flow: str
    """Poll POST …/connectors/oauth/flows/{flow}/poll to learn when it has ended."""
    authorize_url: str
    expires_in: int
    """Seconds the sign-in may take."""


class OAuthDeviceStarted(BaseModel):
    """A device sign-in begun: show `user_code` and `verification_uri`, then poll."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    flow: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    interval: int
    """Seconds to wait between polls."""
    expires_in: int


class OAuthFlowStatus(BaseModel):
    """Where a sign-in is: pending or slow_down (poll again after `interval` s), connected (the
    connector made), failed (`error`, `error_code`)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    flow: str
    status: Literal["pending", "slow_down", "connected", "failed"]
    interval: int = 5
    connector: ConnectorPublic | None = None
    error: str | None = None
    error_code: str | None = None
