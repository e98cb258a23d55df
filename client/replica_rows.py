"""The replica's vocabulary (client/replica.py): what it refuses, the rows it answers with, and
the pure steps before a batch is applied (decoding a feed's bodies, the texts they need).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from events import (
    Body,
    ChapterCreated,
    ChapterForked,
    ChapterMirrored,
    ChapterRenamed,
    MessagePosted,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
    UnknownEvent,
)
from events.chapter import ChapterEvent

__all__ = [
    "ChainBroken",
    "FollowError",
    "HistoryRow",
    "ReplicaError",
    "ReplicaMismatch",
    "SearchRow",
    "TickRow",
    "decode_bodies",
    "event_type",
    "personal_needed",
    "summary",
    "texts_needed",
]


class ReplicaError(Exception):
    """A batch or event the replica refuses; nothing of it was applied."""

    code = "replica_refused"


class ReplicaMismatch(ReplicaError):
    """The replica was made for another share or chapter."""

    code = "wrong_chapter"


class ChainBroken(ReplicaError):
    """A direct event does not verify against the chain held here."""

    code = "chain_broken"

    def __init__(self, rev: int, reason: str) -> None:
        super().__init__(f"refused the owner's event at rev {rev}: {reason}")
        self.rev = rev
        self.reason = reason


class FollowError(Exception):
    """Following cannot start or go on (a copy share, a NATS failure, no credentials)."""

    def __init__(self, message: str, *, code: str = "follow_failed") -> None:
        super().__init__(message)
        self.code = code


class TickRow(msgspec.Struct, frozen=True, kw_only=True):
    """One proxied batch as applied."""

    after: int
    rev: int
    """The owner's rev at the batch's watermark."""
    head: str
    snapshot: bool
    events: int
    at: int
    """Unix ms when it was applied here."""


class HistoryRow(msgspec.Struct, frozen=True, kw_only=True):
    """One event applied to the replica."""

    seq: int
    """Its place among the events applied here."""
    rev: int
    """The owner's rev (direct), or the watermark of the batch that brought it (proxied)."""
    type: str
    summary: str
    actor: str
    at: int
    """Unix ms: the owner's stamp (direct) or when it was applied here (proxied)."""


class SearchRow(msgspec.Struct, frozen=True, kw_only=True):
    """A source whose text matches a search, with a snippet."""

    source: str
    name: str
    snippet: str
    score: float
    """bm25: lower is better."""


def decode_bodies(events: Iterable[Mapping[str, Any]]) -> list[Body]:
    """A feed batch's events (JSON bodies with a `type` tag) as event bodies; a tag this client
    does not know becomes an `UnknownEvent` (skipped by the fold), a known one that does not
    parse refuses the batch."""
    bodies: list[Body] = []
    for i, event in enumerate(events):
        kind = str(event.get("type", ""))
        try:
            bodies.append(msgspec.convert(event, ChapterEvent, strict=False))
        except msgspec.ValidationError as exc:
            if f"Invalid value {kind!r}" in str(exc) or not kind:
                bodies.append(UnknownEvent(kind or "?", b""))
                continue
            raise ReplicaError(f"event {i} of the batch ({kind}) does not parse: {exc}") from None
    return bodies


def texts_needed(bodies: Iterable[Body]) -> list[str]:
    """The text blobs the replica stores for these events: extracted texts, edited texts."""
    needed: list[str] = []
    for body in bodies:
        if isinstance(body, SourceExtracted):
            needed.append(body.text_blob)
        elif isinstance(body, SourceEdited):
            needed.append(body.new_text)
    return list(dict.fromkeys(needed))


def summary(body: Body) -> str:
    """A short line for people: "added report.pdf", "removed <id>"."""
    match body:
        case SourceAdded():
            return f"added {body.name}"
        case SourceExtracted():
            return f"extracted {body.source}: {body.chunk_total} chunks"
        case SourceRejected():
            return f"rejected {body.source}: {body.message}"
        case SourceEdited():
            return f"edited {body.source}"
        case SourceRetagged():
            return f"retagged {body.source}: {', '.join(body.tags) or 'no tags'}"
        case SourceRemoved():
            return f"removed {body.source}"
        case ThreadStarted():
            return f"thread {body.title or body.thread}"
        case MessagePosted():
            return f"{body.role}: {body.text[:60]}"
        case ChapterCreated() | ChapterForked() | ChapterMirrored() | ChapterRenamed():
            return f"titled {body.title}"
        case _:
            return ""


def event_type(body: Body) -> str:
    """The event's tag (an unknown one's too)."""
    return body.type if isinstance(body, UnknownEvent) else type(body).__name__


def personal_needed(bodies: Iterable[object]) -> list[str]:
    """The personal blobs the bodies are sealed with (docs/log-format.md, "Erasure"), once each:
    fetch them to show the bodies' personal fields; an erased one reads as erased."""
    return list(dict.fromkeys(r for b in bodies if (r := getattr(b, "sealed", None)) is not None))
