"""Result types of the connector calls (client/aio_connectors.py)."""

from __future__ import annotations

import msgspec

__all__ = ["ConnectorStatus", "HeldItem", "ItemError", "SyncReport"]


class _Shape(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ItemError(_Shape):
    """An item a sync could not bring in."""

    ref: str
    code: str = ""
    message: str = ""


class SyncReport(_Shape):
    """What one sync did."""

    cursor: str | None = None
    listed: int = 0
    added: int = 0
    revised: int = 0
    retagged: int = 0
    described: int = 0
    removed: int = 0
    rejected: int = 0
    appended: int = 0
    """Events appended to the chapter's log."""
    rev: int | None = None
    errors: list[ItemError] = []
    error_count: int = 0


class ConnectorStatus(_Shape):
    """A connector: its configuration (never its credential), status, cursor and last run."""

    id: str
    chapter: str = ""
    kind: str = ""
    library: str | None = None
    base_url: str | None = None
    path: str | None = None
    email: str | None = None
    pushed: bool = False
    """Synced from the user's machine (`ragstack sync --zotero-dir`)."""
    has_credential: bool = False
    status: str = "new"
    """new, running, ok, failed, credential_rejected."""
    cursor: str | None = None
    last_run_at: int | None = None
    last_error: str | None = None
    last_error_code: str | None = None
    report: SyncReport | None = None


class HeldItem(_Shape):
    """A source a connector brought in, by its remote ref."""

    ref: str
    source: str
    blob: str
    removed: bool = False
