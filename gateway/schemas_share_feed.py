"""Public shapes of the proxied feed (gateway/routes/share_feed.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["ShareFeed"]


class ShareFeed(BaseModel):
    """The compacted events of a proxied share after `after`, up to the relay's last tick."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    share: str
    chapter: str
    """The owner's chapter."""
    after: int
    """The owner's rev the guest already held (0: nothing, and `events` are a snapshot)."""
    rev: int
    """The watermark: the owner's rev the guest holds once it has applied `events`."""
    head: str
    """Hex chain hash of the owner's log at `rev` (record it with the batch)."""
    snapshot: bool
    """Whether `events` build the chapter from nothing."""
    next_tick_at: int
    """Unix ms of the relay's next tick: asking again before then brings nothing new."""
    events: list[dict[str, Any]]
    """Event bodies, `{"type": …, fields…}` as in the log (bytes in base64). They are compacted,
    not the owner's events: several edits of a source are one patch, a source added and removed
    between ticks is absent, retags are collapsed. Apply them in order."""
    blobs: list[str]
    """The blobs `events` refer to, each once: `GET /v1/shares/blobs/{hash}`."""
