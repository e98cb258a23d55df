"""Connectors: a remote library (Zotero, Confluence, Notion, Google Drive, Dropbox, OneDrive…) kept in step with a chapter.

A connector is one module that implements `Connector`: it lists what changed since a cursor
(mapping each remote record to a `RemoteItem`: name, media type, tags, `SourceMeta`), and fetches
one item's bytes. `engine.connectors.sync.sync` does the rest, the same for every connector: it
folds what the connector brought in before from the chapter's own log, appends only what differs
(SourceAdded, SourceRevised, SourceRetagged, SourceDescribed, SourceRemoved), and turns an item
that cannot be fetched into a rejected source with the reason. Per-item errors never stop the
rest; a rejected credential or an unreachable service stops the sync with a clear error.

See docs/connectors.md for the whole design.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import msgspec

from engine.errors import EngineError
from events import SourceMeta

__all__ = [
    "Changes",
    "Connector",
    "ConnectorError",
    "ConnectorUnavailable",
    "CredentialRejected",
    "ItemFailed",
    "RemoteItem",
]


class RemoteItem(msgspec.Struct, frozen=True, kw_only=True):
    """One remote item that becomes one source (a Zotero attachment or note)."""

    ref: str
    """Stable within the connector's library (a Zotero item key)."""
    name: str
    """The source's name: a file name or a note's title."""
    media_type: str = "application/octet-stream"
    tags: list[str] = []
    """Its tags, with `type:` and `collection:` tags for item type and collections."""
    meta: SourceMeta | None = None
    blob: str | None = None
    """BLAKE3 hex of its bytes when the lister already knows them (the CLI hashes local files),
    so unchanged bytes are never fetched or sent again."""
    error: str | None = None
    """Why its bytes cannot be had, when the lister already knows (a missing file)."""


class Changes(msgspec.Struct, frozen=True, kw_only=True):
    """What changed in the remote library since a cursor."""

    items: list[RemoteItem]
    """New and changed items (an unchanged one listed again changes nothing)."""
    deleted: list[str] = []
    """Refs of items deleted or trashed remotely."""
    cursor: str | None = None
    """Where the next sync starts (None: from the beginning)."""
    complete: bool = False
    """`items` is the whole library: refs held and not listed were deleted remotely."""


class ConnectorError(EngineError):
    """A sync cannot go on (HTTP 502 unless a subclass says otherwise)."""

    code = "connector_failed"


class CredentialRejected(ConnectorError):
    """The service refused the credential (expired or revoked): the connector needs a new key."""

    code = "connector_credential_rejected"


class ConnectorUnavailable(ConnectorError):
    """The service cannot be reached, or keeps failing or asking us to wait too long."""

    code = "connector_unavailable"


class ItemFailed(Exception):
    """One item cannot be fetched or read; it becomes a rejected source, the sync goes on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Connector(Protocol):
    """What a connector module implements (docs/connectors.md)."""

    kind: ClassVar[str]
    """The source origin its sources carry, e.g. `zotero`."""

    async def changes(self, cursor: str | None) -> Changes:
        """Items new or changed since `cursor` (None: all), mapped to RemoteItems."""
        ...

    async def fetch(self, item: RemoteItem) -> bytes:
        """The item's bytes; ItemFailed when it cannot be had."""
        ...
