"""Which events each share scope word covers: what a copy copies, a relay serves, a mirror or a
replica keeps. Never in any scope: the chapter's identity (a copy or mirror has its own title),
shares, signed heads and mirror bookkeeping."""

from collections.abc import Iterable

from events.chapter import (
    ContentErased,
    MessagePosted,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
)

__all__ = ["ERASURE_EVENTS", "SCOPE_EVENTS", "SOURCE_EVENTS", "THREAD_EVENTS", "copied_types"]

SOURCE_EVENTS: tuple[type, ...] = (
    SourceAdded,
    SourceExtracted,
    SourceRejected,
    SourceEdited,
    SourceRetagged,
    SourceRemoved,
)
"""The events about one source: the `sources` (and `notes`) scope."""
THREAD_EVENTS: tuple[type, ...] = (ThreadStarted, MessagePosted)
"""The events of the `threads` scope."""

SCOPE_EVENTS: dict[str, tuple[type, ...]] = {
    "sources": SOURCE_EVENTS,
    "notes": (),  # notes have no events yet
    "threads": THREAD_EVENTS,
}
"""The event types each scope word covers."""

ERASURE_EVENTS: tuple[type, ...] = (ContentErased,)
"""In every scope: whoever holds a copy of erased content must learn to forget it."""


def copied_types(scope: Iterable[str]) -> tuple[type, ...]:
    """The event types a share with `scope` copies (unknown scope words copy nothing; a scope
    that copies any event copies erasures too)."""
    types = tuple(t for word in dict.fromkeys(scope) for t in SCOPE_EVENTS.get(word, ()))
    return (*types, *ERASURE_EVENTS) if types else types
