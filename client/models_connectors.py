"""Result types of the connector calls (client/aio_connectors.py)."""

from __future__ import annotations

import msgspec

__all__ = [
    "ConnectorStatus",
    "HeldItem",
    "ItemError",
    "OAuthDeviceStarted",
    "OAuthFlowStatus",
    "OAuthProvider",
    "OAuthStarted",
    "SyncReport",
]


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


class OAuthProvider(_Shape):
    """A service a chapter is connected to by signing in (google, dropbox, microsoft)."""

    name: str
    kind: str = ""
    """The connector kind it makes: google_drive, dropbox, onedrive."""
    title: str = ""
    configured: bool = False
    """The server's operator has registered a client with it."""
    device_flow: bool = False
    """Sign-in with a user code is possible (else a link opened in a browser)."""
    scopes: list[str] = []


class OAuthStarted(_Shape):
    """A browser sign-in begun: open `authorize_url`, then poll `flow`."""

    flow: str
    authorize_url: str
    expires_in: int = 600


class OAuthDeviceStarted(_Shape):
    """A device sign-in begun: enter `user_code` at `verification_uri`, then poll `flow`."""

    flow: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    interval: int = 5
    expires_in: int = 900


class OAuthFlowStatus(_Shape):
    """pending or slow_down (poll again after `interval` s), connected, or failed."""

    flow: str
    status: str
    interval: int = 5
    connector: ConnectorStatus | None = None
    error: str | None = None
    error_code: str | None = None
