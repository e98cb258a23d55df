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
    """Which service."""
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
