"""One chapter's fold: the rules that turn its events into sources, threads, messages and shares.

Pure: no I/O, and nothing imported but `events` and msgspec, so that a client (a guest's replica)
can fold a chapter with the very rules the server uses. Each rule is a transition over one record:
it takes the record as it stands (None when there is none yet) and the event, and gives the record
after it (None from a `source_*` change: the event changes nothing).

Every read model drives these same transitions: the catalogue loads a source's row, applies the
rule and writes the row back; the chat view does the same with a batch's threads; `ChapterFold`
keeps the records in dicts, for the audit's "the chapter at rev N". So the rules are written once:

- a re-added source id starts afresh, and lists last (the catalogue orders by `added_rev`);
- extraction, rejection and an edit leave a removed source alone; retagging and removal do not;
- a thread first seen through a message is untitled and keeps that start: a later ThreadStarted
  only sets its title;
- a message id is kept once per chapter (a retried post that reached the log twice counts once);
  a thread's `message_count` counts its messages and `last_at` is the latest `at` among them, or
  its start when none is later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec

from events import (
    ChapterCreated,
    ChapterForked,
    ChapterMirrored,
    ChapterRenamed,
    Citation,
    Envelope,
    MessagePosted,
    ShareGranted,
    ShareRevoked,
    SourceAdded,
    SourceDescribed,
    SourceEdited,
    SourceExtracted,
    SourceMeta,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    SourceRevised,
    ThreadStarted,
    TokenUsage,
)

__all__ = [
    "SOURCE_CHANGES",
    "ChapterFold",
    "ChapterView",
    "MessageView",
    "ShareView",
    "SourceView",
    "Status",
    "ThreadView",
    "chapter_created",
    "chapter_renamed",
    "message_posted",
    "share_granted",
    "source_added",
    "source_described",
    "source_edited",
    "source_extracted",
    "source_rejected",
    "source_removed",
    "source_retagged",
    "source_revised",
    "thread_started",
]

Status = Literal["pending", "extracted", "rejected", "removed"]


# -- the records -------------------------------------------------------------------------------


class ChapterView(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter's identity as the catalogue knows it."""

    id: str
    book: str
    title: str
    rev: int
    """Rev of the chapter's latest change (creation or rename)."""
    forked_from: str | None = None


class SourceView(msgspec.Struct, frozen=True, kw_only=True):
    """A source as people and scripts see it (the source shape of docs/architecture.md, plus details)."""

    id: str
    name: str
    media_type: str
    size: int
    status: Status
    reason: str | None
    tags: list[str]
    rev: int
    """Rev of the source's latest change."""
    blob: str
    origin: str
    url: str | None = None
    text_blob: str | None = None
    extractor: str | None = None
    chunks: int = 0
    code: str | None = None
    """Rejection code, when rejected."""
    connector: str | None = None
    """The connector that brought it in, if one did."""
    ref: str | None = None
    """Its stable reference in the connector's remote library."""
    meta: SourceMeta | None = None
    """Bibliographic metadata (title, authors, year, DOI) from the connector."""


class ThreadView(msgspec.Struct, frozen=True, kw_only=True):
    """A thread as listed by the HTTP API."""

    id: str
    title: str
    """Empty when the thread was only ever seen through its messages."""
    actor: str
    """Who started it."""
    created_rev: int
    created_at: int
    """Unix ms."""
    message_count: int
    last_at: int
    """Unix ms of the latest message, or of the start when there is none later."""


class MessageView(msgspec.Struct, frozen=True, kw_only=True):
    """A message as the HTTP API returns it."""

    id: str
    thread: str
    role: Literal["user", "assistant"]
    text: str
    citations: list[Citation]
    rev: int
    answered_at_rev: int | None
    """The chapter rev the answer's retrieval saw."""
    model: str | None
    usage: TokenUsage | None
    actor: str
    at: int
    """Unix ms."""


class ShareView(msgspec.Struct, frozen=True, kw_only=True):
    """A share in force (credentials never enter the log)."""

    id: str
    mode: str
    grantee: str
    permissions: list[str]
    interval_s: int | None
    scope: list[str]
    rev: int
    """Rev of the grant."""
    actor: str
    """Who granted it."""


# -- the chapter -------------------------------------------------------------------------------


def chapter_created(
    e: Envelope, body: ChapterCreated | ChapterForked | ChapterMirrored
) -> ChapterView:
    """The chapter as its first event (a creation, a copy or a live mirror) makes it."""
    forked = body.from_chapter if isinstance(body, ChapterForked) else None
    return ChapterView(
        id=e.chapter, book=body.book, title=body.title, rev=e.rev, forked_from=forked
    )


def chapter_renamed(
    prev: ChapterView | None, e: Envelope, body: ChapterRenamed
) -> ChapterView | None:
    """The chapter under its new title; None for a chapter not created yet."""
    if prev is None:
        return None
    return msgspec.structs.replace(prev, title=body.title, rev=e.rev)


# -- sources -----------------------------------------------------------------------------------


def _tags(tags: list[str]) -> list[str]:
    return sorted(set(tags))


def source_added(e: Envelope, body: SourceAdded) -> SourceView:
    """A new source, pending; a re-added id starts afresh (nothing of the old one is kept)."""
    return SourceView(
        id=body.source, name=body.name, media_type=body.media_type, size=body.size,
        status="pending", reason=None, tags=_tags(body.tags), rev=e.rev, blob=body.blob,
        origin=body.origin, url=body.url, connector=body.connector, ref=body.ref, meta=body.meta,
    )  # fmt: skip


def _live(prev: SourceView | None) -> SourceView | None:
    # Ingest's results and edits arriving after a removal do not bring the source back.
    return None if prev is None or prev.status == "removed" else prev


def source_extracted(
    prev: SourceView | None, e: Envelope, body: SourceExtracted
) -> SourceView | None:
    """Extracted: its text, extractor and chunk count (and the media type detected, if any)."""
    if (live := _live(prev)) is None:
        return None
    return msgspec.structs.replace(
        live, status="extracted", code=None, reason=None, text_blob=body.text_blob,
        extractor=f"{body.extractor} {body.extractor_version}", chunks=body.chunk_total,
        media_type=body.media_type or live.media_type, rev=e.rev,
    )  # fmt: skip


def source_rejected(
    prev: SourceView | None, e: Envelope, body: SourceRejected
) -> SourceView | None:
    """Rejected, with the code and the message for people."""
    if (live := _live(prev)) is None:
        return None
    return msgspec.structs.replace(
        live, status="rejected", code=body.code, reason=body.message, rev=e.rev
    )


def source_edited(prev: SourceView | None, e: Envelope, body: SourceEdited) -> SourceView | None:
    """Pending again: ingest re-chunks the edited text (the old extraction stays until then)."""
    if (live := _live(prev)) is None:
        return None
    return msgspec.structs.replace(live, status="pending", rev=e.rev)


def source_retagged(
    prev: SourceView | None, e: Envelope, body: SourceRetagged
) -> SourceView | None:
    """The new tag set (a removed source keeps its history: it may be retagged too)."""
    if prev is None:
        return None
    return msgspec.structs.replace(prev, tags=_tags(body.tags), rev=e.rev)


def source_removed(prev: SourceView | None, e: Envelope, body: SourceRemoved) -> SourceView | None:
    """Removed (kept, with status `removed`, for history)."""
    if prev is None:
        return None
    return msgspec.structs.replace(prev, status="removed", rev=e.rev)


def source_revised(prev: SourceView | None, e: Envelope, body: SourceRevised) -> SourceView | None:
    """New bytes: pending again until ingest extracts them (the old text stays until then)."""
    if (live := _live(prev)) is None:
        return None
    return msgspec.structs.replace(
        live, name=body.name, media_type=body.media_type, size=body.size, blob=body.blob,
        status="pending", code=None, reason=None, rev=e.rev,
    )  # fmt: skip


def source_described(
    prev: SourceView | None, e: Envelope, body: SourceDescribed
) -> SourceView | None:
    """The new bibliographic metadata (a removed source keeps its history, like a retag)."""
    if prev is None:
        return None
    return msgspec.structs.replace(prev, meta=body.meta, rev=e.rev)


SourceChange = Callable[[SourceView | None, Envelope, Any], SourceView | None]

SOURCE_CHANGES: dict[type, SourceChange] = {
    SourceExtracted: source_extracted,
    SourceRejected: source_rejected,
    SourceEdited: source_edited,
    SourceRetagged: source_retagged,
    SourceRemoved: source_removed,
    SourceRevised: source_revised,
    SourceDescribed: source_described,
}
"""The rule of each event that changes an existing source (all but `SourceAdded`)."""


# -- chat --------------------------------------------------------------------------------------


def _opened(e: Envelope, thread: str, title: str) -> ThreadView:
    return ThreadView(
        id=thread, title=title, actor=e.actor, created_rev=e.rev, created_at=e.at,
        message_count=0, last_at=e.at,
    )  # fmt: skip


def thread_started(prev: ThreadView | None, e: Envelope, body: ThreadStarted) -> ThreadView:
    """A new thread; one a message opened first keeps that start and takes this title."""
    if prev is None:
        return _opened(e, body.thread, body.title)
    return msgspec.structs.replace(prev, title=body.title)


def message_posted(
    thread: ThreadView | None, e: Envelope, body: MessagePosted, *, seen: bool
) -> tuple[ThreadView, MessageView | None]:
    """The message's thread after it, and the message, or None when its id was `seen` before.

    A message for a thread never started opens it, untitled. `last_at` only grows: it is the
    latest of the start and the messages' stamps, so one new message is enough to move it.
    """
    if thread is None:
        thread = _opened(e, body.thread, "")
    if seen:
        return thread, None
    message = MessageView(
        id=body.message, thread=body.thread, role=body.role, text=body.text,
        citations=list(body.citations), rev=e.rev, answered_at_rev=body.answered_at_rev,
        model=body.model, usage=body.usage, actor=e.actor, at=e.at,
    )  # fmt: skip
    thread = msgspec.structs.replace(
        thread, message_count=thread.message_count + 1, last_at=max(thread.last_at, e.at)
    )
    return thread, message


# -- shares ------------------------------------------------------------------------------------


def share_granted(e: Envelope, body: ShareGranted) -> ShareView:
    """The share as granted (a revocation simply ends it)."""
    return ShareView(
        id=body.share, mode=body.mode, grantee=body.grantee, permissions=list(body.permissions),
        interval_s=body.interval_s, scope=list(body.scope), rev=e.rev, actor=e.actor,
    )  # fmt: skip


# -- the whole chapter in memory ---------------------------------------------------------------


class ChapterFold:
    """A chapter's records in dicts, each event applied with its rule.

    Feed envelopes in log order with `apply`. The dicts keep the orders people see: sources in
    the order added (a re-added id moves to the end), threads as they appeared, messages in log
    order, shares in the order granted. Unknown and unhandled events only move `rev` and `at`.
    """

    def __init__(self, chapter: str) -> None:
        self.chapter = chapter
        self.rev = 0
        """Rev of the last event applied (0: none)."""
        self.at: int | None = None
        """Unix ms of the last event applied."""
        self.identity: ChapterView | None = None
        self.sources: dict[str, SourceView] = {}
        self.threads: dict[str, ThreadView] = {}
        self.messages: dict[str, MessageView] = {}
        self.shares: dict[str, ShareView] = {}

    def apply(self, e: Envelope) -> None:
        """Fold the next event."""
        body = e.body
        match body:
            case ChapterCreated() | ChapterForked() | ChapterMirrored():
                self.identity = chapter_created(e, body)
            case ChapterRenamed():
                self.identity = chapter_renamed(self.identity, e, body)
            case SourceAdded():
                self.sources.pop(body.source, None)
                self.sources[body.source] = source_added(e, body)
            case (
                SourceExtracted()
                | SourceRejected()
                | SourceEdited()
                | SourceRetagged()
                | SourceRemoved()
            ):
                changed = SOURCE_CHANGES[type(body)](self.sources.get(body.source), e, body)
                if changed is not None:
                    self.sources[body.source] = changed
            case ThreadStarted():
                self.threads[body.thread] = thread_started(self.threads.get(body.thread), e, body)
            case MessagePosted():
                seen = body.message in self.messages
                thread, message = message_posted(self.threads.get(body.thread), e, body, seen=seen)
                self.threads[body.thread] = thread
                if message is not None:
                    self.messages[message.id] = message
            case ShareGranted():
                self.shares[body.share] = share_granted(e, body)
            case ShareRevoked():
                self.shares.pop(body.share, None)
        self.rev, self.at = e.rev, e.at
