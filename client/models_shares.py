"""The SDK's typed results for sharing: a grant, what a token connects to, a proxied feed batch.

Shapes of gateway/schemas_shares.py and of `GET /v1/shares/feed` (the sharing design), decoded
like every other result (client/models.py): keys this client does not know are ignored.
"""

from __future__ import annotations

import ssl
from typing import Any

import msgspec

__all__ = ["FeedBatch", "NatsCredentials", "ShareConnection", "ShareCreated"]


class _Shape(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ShareCreated(_Shape):
    """A new share, with its token: shown this once, give it to the guest."""

    id: str
    token: str
    """Opens the share (`ragstack follow TOKEN`, or accept on another server). Keep it secret."""
    chapter: str = ""
    mode: str = ""
    """copy, proxied or direct."""
    grantee: str = ""
    permissions: list[str] = []
    scope: list[str] = []
    granted_rev: int = 0
    """The rev of its `ShareGranted` in the chapter's log."""
    expires_at: int | None = None
    """Unix ms after which the share opens nothing; None: until revoked."""
    rev: int = 0
    """The chapter's rev after the grant."""
    interval_s: int | None = None
    """A proxied share's tick when granted (it follows the book's plan)."""


class NatsCredentials(_Shape):
    """A direct share's NATS credentials, issued to the guest (never shown to the owner)."""

    url: str
    user: str
    password: str
    inbox_prefix: str
    """Connect with this inbox prefix: replies reach the guest nowhere else."""
    certificate: str | None = None
    """With TLS (`tls://`), the owner's server certificate (PEM) to trust besides the system's
    authorities."""

    def tls(self) -> ssl.SSLContext | None:
        """The TLS context to connect with (None: plain `nats://`)."""
        if self.certificate is None and not self.url.startswith("tls://"):
            return None
        context = ssl.create_default_context()
        if self.certificate:
            context.load_verify_locations(cadata=self.certificate)
        return context


class ShareConnection(_Shape):
    """What a share's token opens on the owner's server (`POST /v1/shares/{token}/connect`)."""

    share: str
    chapter: str
    title: str = ""
    mode: str = ""
    permissions: list[str] = []
    scope: list[str] = []
    interval_s: int | None = None
    """A proxied share's tick (seconds)."""
    rev: int = 0
    """The chapter's head now."""
    head: str = ""
    """Hex chain hash at `rev`."""
    stream: str | None = None
    subject: str | None = None
    """Where a direct share's events are stored (a guest may not listen there)."""
    live_subject: str | None = None
    """Where a direct share's stored events are republished, for guests to follow."""
    nats: NatsCredentials | None = None


class FeedBatch(_Shape):
    """One batch of a proxied share's feed (`GET /v1/shares/feed?after=N`).

    Its events are not the owner's events but a compaction of those after `after` through the
    tick's watermark `rev`, whose chain hash is `head`: applied in order to a replica that held
    the in-scope state at `after`, they give the in-scope state at `rev`. A `snapshot` batch
    starts from nothing."""

    share: str
    chapter: str
    after: int = 0
    rev: int = 0
    """The owner's rev at the tick's watermark."""
    head: str = ""
    """The owner's chain hash at `rev`, hex."""
    snapshot: bool = False
    next_tick_at: int | None = None
    """Unix ms of the next tick: polling before it finds nothing new."""
    events: list[dict[str, Any]] = []
    """Event bodies as JSON, each with its `type` tag."""
    blobs: list[str] = []
    """The blobs these events refer to (`GET /v1/shares/blobs/{hash}`)."""
