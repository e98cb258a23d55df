"""Audit views: the chapter as it was at rev N or at time T, event summaries, inclusion proofs.

Unlike the other read models this one keeps nothing: each question folds a prefix of the log in
memory (`ChapterFold`), so the answer comes from the verified log itself and never depends on a
projection's lag or on a store that could have been edited. The fold follows the catalogue's and
the chat view's rules event for event (tests compare them at the head), and returns their shapes
(`SourceView`, `ThreadView`, `MessageView`), so a source "as it was" reads like a source now.

A prefix is read with the chain checked, and each envelope must name this chapter and its own
rev (as `engine.verify` demands); anything else is `ChainBroken` naming the rev.

Merkle proofs (`inclusion_proof`) take the chain hashes h[1..size] as leaves: a client holding the
root of the first `size` events checks one event with `rust_core.merkle_verify(root, leaf,
rev - 1, size, proof)` without fetching the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

import rust_core
from engine.errors import ChainBroken
from engine.log import GENESIS, Log
from events import (
    ChapterCreated,
    ChapterForked,
    ChapterRenamed,
    DecodeError,
    Envelope,
    HeadSigned,
    MessagePosted,
    RecordedEvent,
    ShareGranted,
    ShareRevoked,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
    ThreadStarted,
    UnknownEvent,
    decode,
)
from projections.catalogue import SourceView
from projections.chat import CitationView, MessageView, ThreadView, UsageView

__all__ = [
    "AuditRangeError",
    "ChapterFold",
    "ChapterSnapshot",
    "InclusionProof",
    "ShareView",
    "chapter_at_rev",
    "chapter_at_time",
    "checked_envelope",
    "fold",
    "inclusion_proof",
    "read_envelopes",
    "rev_at_time",
    "source_of",
    "summarize",
]


class AuditRangeError(ValueError):
    """A rev or size outside the log as it stands (the caller should have checked the head)."""


class ShareView(msgspec.Struct, frozen=True, kw_only=True):
    """A share in force at the snapshot's rev (credentials never enter the log)."""

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


class ChapterSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The chapter as the fold of its first `rev` events shows it."""

    chapter: str
    rev: int
    """How many events were folded (0: none, the chapter did not exist yet)."""
    hash: bytes
    """h[rev], the chain hash that pins this exact prefix (GENESIS at rev 0)."""
    at: int | None
    """Unix ms of event `rev` (None at rev 0)."""
    book: str | None
    title: str
    forked_from: str | None
    sources: list[SourceView]
    """Every source added so far, removed ones included (status `removed`), in order added."""
    threads: list[ThreadView]
    """Threads in the order they appeared."""
    messages: list[MessageView]
    """Messages in log order."""
    shares: list[ShareView]
    """Shares granted and not revoked, in order granted."""


@dataclass
class _Thread:
    view: ThreadView
    message_ids: set[str] = field(default_factory=set)
    latest: int | None = None
    """Latest `at` of a message stamped after the thread's creation (the chat view's last_at)."""


class ChapterFold:
    """An in-memory fold of one chapter's log, one handler per event type.

    Feed envelopes in log order with `apply`; `snapshot` gives the state so far. Unknown and
    unhandled events still move the rev (they are part of the prefix).
    """

    def __init__(self, chapter: str) -> None:
        self.chapter = chapter
        self.rev = 0
        self.hash = GENESIS
        self.at: int | None = None
        self.book: str | None = None
        self.title = ""
        self.forked_from: str | None = None
        self.sources: dict[str, SourceView] = {}
        self.threads: dict[str, _Thread] = {}
        self.messages: dict[str, MessageView] = {}
        self.shares: dict[str, ShareView] = {}

    def apply(self, e: Envelope, hash: bytes | None = None) -> None:
        """Fold the next event; `hash` is its chain hash, when known (kept for the snapshot)."""
        if e.chapter != self.chapter:
            raise ChainBroken(self.chapter, e.rev, f"the event belongs to {e.chapter!r}")
        if e.rev != self.rev + 1:
            raise ChainBroken(
                self.chapter, self.rev + 1, f"the fold expected rev {self.rev + 1}, got {e.rev}"
            )
        handler = _HANDLERS.get(type(e.body))
        if handler is not None:
            handler(self, e)
        self.rev, self.at = e.rev, e.at
        self.hash = hash if hash is not None else self.hash

    def snapshot(self) -> ChapterSnapshot:
        """The state after the last event applied."""
        return ChapterSnapshot(
            chapter=self.chapter,
            rev=self.rev,
            hash=self.hash,
            at=self.at,
            book=self.book,
            title=self.title,
            forked_from=self.forked_from,
            sources=list(self.sources.values()),
            threads=[t.view for t in self.threads.values()],
            messages=list(self.messages.values()),
            shares=list(self.shares.values()),
        )

    # -- the chapter ----------------------------------------------------------------------------

    def _created(self, e: Envelope) -> None:
        body = e.body
        assert isinstance(body, ChapterCreated | ChapterForked)
        self.book, self.title = body.book, body.title
        self.forked_from = body.from_chapter if isinstance(body, ChapterForked) else None

    def _renamed(self, e: Envelope) -> None:
        assert isinstance(e.body, ChapterRenamed)
        self.title = e.body.title

    # -- sources (the catalogue's rules) --------------------------------------------------------

    def _update(self, source: str, e: Envelope, *, removed_too: bool, **changes: Any) -> None:
        view = self.sources.get(source)
        if view is None or (view.status == "removed" and not removed_too):
            return
        self.sources[source] = msgspec.structs.replace(view, rev=e.rev, **changes)

    def _added(self, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceAdded)
        self.sources.pop(b.source, None)  # a re-added id moves to the end, as in the catalogue
        self.sources[b.source] = SourceView(
            id=b.source, name=b.name, media_type=b.media_type, size=b.size, status="pending",
            reason=None, tags=sorted(set(b.tags)), rev=e.rev, blob=b.blob, origin=b.origin,
            url=b.url,
        )  # fmt: skip

    def _extracted(self, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceExtracted)
        view = self.sources.get(b.source)
        media_type = b.media_type or (view.media_type if view else "")
        self._update(
            b.source, e, removed_too=False, status="extracted", code=None, reason=None,
            text_blob=b.text_blob, extractor=f"{b.extractor} {b.extractor_version}",
            chunks=b.chunk_total, media_type=media_type,
        )  # fmt: skip

    def _rejected(self, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceRejected)
        self._update(
            b.source, e, removed_too=False, status="rejected", code=b.code, reason=b.message
        )

    def _edited(self, e: Envelope) -> None:
        assert isinstance(e.body, SourceEdited)
        self._update(e.body.source, e, removed_too=False, status="pending")

    def _retagged(self, e: Envelope) -> None:
        assert isinstance(e.body, SourceRetagged)
        self._update(e.body.source, e, removed_too=True, tags=sorted(set(e.body.tags)))

    def _removed(self, e: Envelope) -> None:
        assert isinstance(e.body, SourceRemoved)
        self._update(e.body.source, e, removed_too=True, status="removed")

    # -- chat (the chat view's rules) -----------------------------------------------------------

    def _thread_started(self, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, ThreadStarted)
        known = self.threads.get(b.thread)
        if known is None:
            self.threads[b.thread] = _Thread(
                ThreadView(
                    id=b.thread, title=b.title, actor=e.actor, created_rev=e.rev,
                    created_at=e.at, message_count=0, last_at=e.at,
                )
            )  # fmt: skip
        else:  # a message opened it first: it keeps that start, and takes this title
            known.view = msgspec.structs.replace(known.view, title=b.title)

    def _message_posted(self, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, MessagePosted)
        thread = self.threads.get(b.thread)
        if thread is None:
            thread = self.threads[b.thread] = _Thread(
                ThreadView(
                    id=b.thread, title="", actor=e.actor, created_rev=e.rev, created_at=e.at,
                    message_count=0, last_at=e.at,
                )
            )  # fmt: skip
        if b.message in self.messages:
            return  # a retried post that reached the log twice counts once
        usage = b.usage
        self.messages[b.message] = MessageView(
            id=b.message, thread=b.thread, role=b.role, text=b.text,
            citations=[
                CitationView(
                    source=c.source, chunk=c.chunk, start=c.start, end=c.end, page=c.page,
                    heading=c.heading,
                )
                for c in b.citations
            ],
            rev=e.rev, answered_at_rev=b.answered_at_rev, model=b.model,
            usage=None if usage is None else UsageView(
                prompt=usage.prompt, completion=usage.completion
            ),
            actor=e.actor, at=e.at,
        )  # fmt: skip
        thread.message_ids.add(b.message)
        if e.at > thread.view.created_at:
            thread.latest = e.at if thread.latest is None else max(thread.latest, e.at)
        thread.view = msgspec.structs.replace(
            thread.view,
            message_count=len(thread.message_ids),
            last_at=thread.latest if thread.latest is not None else thread.view.created_at,
        )

    # -- shares ---------------------------------------------------------------------------------

    def _share_granted(self, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, ShareGranted)
        self.shares[b.share] = ShareView(
            id=b.share, mode=b.mode, grantee=b.grantee, permissions=list(b.permissions),
            interval_s=b.interval_s, scope=list(b.scope), rev=e.rev, actor=e.actor,
        )  # fmt: skip

    def _share_revoked(self, e: Envelope) -> None:
        assert isinstance(e.body, ShareRevoked)
        self.shares.pop(e.body.share, None)


_HANDLERS: dict[type, Callable[[ChapterFold, Envelope], None]] = {
    ChapterCreated: ChapterFold._created,
    ChapterForked: ChapterFold._created,
    ChapterRenamed: ChapterFold._renamed,
    SourceAdded: ChapterFold._added,
    SourceExtracted: ChapterFold._extracted,
    SourceRejected: ChapterFold._rejected,
    SourceEdited: ChapterFold._edited,
    SourceRetagged: ChapterFold._retagged,
    SourceRemoved: ChapterFold._removed,
    ThreadStarted: ChapterFold._thread_started,
    MessagePosted: ChapterFold._message_posted,
    ShareGranted: ChapterFold._share_granted,
    ShareRevoked: ChapterFold._share_revoked,
}


def fold(chapter: str, envelopes: Iterable[Envelope]) -> ChapterSnapshot:
    """The snapshot after folding `envelopes` (revs 1, 2, … in order) of `chapter`."""
    state = ChapterFold(chapter)
    for e in envelopes:
        state.apply(e)
    return state.snapshot()


# -- reading prefixes of a log -------------------------------------------------------------------


def checked_envelope(chapter: str, event: RecordedEvent) -> Envelope:
    """The event's envelope; `ChainBroken` unless it decodes, names `chapter` and its own rev."""
    try:
        e = decode(event.payload)
    except DecodeError as exc:
        raise ChainBroken(
            chapter, event.rev, f"the payload is not an event envelope ({exc})"
        ) from None
    if e.chapter != chapter:
        raise ChainBroken(chapter, event.rev, f"the event belongs to {e.chapter!r}")
    if e.rev != event.rev:
        raise ChainBroken(chapter, event.rev, f"the event was written for rev {e.rev}")
    return e


async def read_envelopes(
    log: Log, after: int = 0, until: int | None = None
) -> AsyncIterator[tuple[RecordedEvent, Envelope]]:
    """The verified events after `after` through `until`, each with its checked envelope."""
    async for batch in log.read_batches(after, until, verify=True):
        for event in batch:
            yield event, checked_envelope(log.id, event)


async def chapter_at_rev(log: Log, rev: int) -> ChapterSnapshot:
    """The chapter as it was at `rev` (0: before its first event)."""
    if rev < 0:
        raise AuditRangeError(f"revisions start at 1 (0 for the empty chapter), not {rev}")
    await _require_events(log, rev)
    state = ChapterFold(log.id)
    async for event, e in read_envelopes(log, 0, rev):
        state.apply(e, event.hash)
    return state.snapshot()


async def _require_events(log: Log, count: int) -> None:
    # A read through a rev past the head would wait for it to be written: refuse it first.
    head = await log.head()
    if count > head.rev:
        raise AuditRangeError(f"the chapter has {head.rev} events, fewer than {count}")


class _Stamp(msgspec.Struct):
    at: int


_stamp_decoder = msgspec.msgpack.Decoder(_Stamp)


async def rev_at_time(log: Log, at: int) -> int:
    """The last rev whose event is stamped at or before `at` (unix ms); 0 if none is.

    Stamps are each writer's clock and may step back a little between writers; the log's order
    is what counts, so an event stamped after `at` but followed by one stamped before it is
    inside the prefix too.
    """
    found = 0
    async for batch in log.read_batches(0, None, verify=True):
        for event in batch:
            try:
                stamp = _stamp_decoder.decode(event.payload)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise ChainBroken(
                    log.id, event.rev, "the payload is not an event envelope"
                ) from None
            if stamp.at <= at:
                found = event.rev
    return found


async def chapter_at_time(log: Log, at: int) -> ChapterSnapshot:
    """The chapter as it was at unix ms `at` (see `rev_at_time`)."""
    return await chapter_at_rev(log, await rev_at_time(log, at))


# -- Merkle inclusion proofs over the chain hashes -----------------------------------------------


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    """Proof that event `rev` is leaf `rev - 1` of the Merkle tree over h[1..size]."""

    rev: int
    size: int
    leaf: bytes
    """h[rev], the leaf's data."""
    root: bytes
    """Root of the tree over h[1..size]."""
    proof: list[bytes]
    """Sibling hashes from the leaf upwards."""

    def verify(self) -> bool:
        """What a client does: `rust_core.merkle_verify(root, leaf, rev - 1, size, proof)`."""
        return rust_core.merkle_verify(self.root, self.leaf, self.rev - 1, self.size, self.proof)


async def inclusion_proof(log: Log, rev: int, size: int) -> InclusionProof:
    """Prove event `rev` is in the first `size` events (1 <= rev <= size <= the log's head)."""
    if not 1 <= rev <= size:
        raise AuditRangeError(f"a proof needs 1 <= rev <= size, not rev {rev} and size {size}")
    await _require_events(log, size)
    leaves: list[bytes] = []
    async for batch in log.read_batches(0, size, verify=True):
        leaves.extend(event.hash for event in batch)
    return InclusionProof(
        rev=rev,
        size=size,
        leaf=leaves[rev - 1],
        root=rust_core.merkle_root(leaves),
        proof=rust_core.merkle_proof(leaves, rev - 1),
    )


# -- history: one line per event for people ------------------------------------------------------

_SNIPPET = 80


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def source_of(e: Envelope) -> str | None:
    """The source an event is about, if any (to look its name up for `summarize`)."""
    return getattr(e.body, "source", None) if not isinstance(e.body, UnknownEvent) else None


def summarize(e: Envelope, names: Mapping[str, str] | None = None) -> str:
    """A short line for people: "added report.pdf", "extracted report.pdf: 14 chunks", "asked: …".

    `names` maps source ids to names (a source's name never changes after it was added); an id
    without a name is shown as it is.
    """
    names = names or {}
    b = e.body
    name = names.get(s, s) if (s := source_of(e)) else ""
    match b:
        case ChapterCreated():
            return f'created the chapter "{b.title}"'
        case ChapterForked():
            return f'copied chapter {b.from_chapter} at rev {b.from_rev} as "{b.title}"'
        case ChapterRenamed():
            return f'renamed the chapter to "{b.title}"'
        case SourceAdded():
            where = f" from {b.url}" if b.url else ""
            tags = f" tagged {', '.join(b.tags)}" if b.tags else ""
            return f"added {b.name}{where}{tags}"
        case SourceExtracted():
            if b.chunks_blob and not b.chunks:
                return f"extracted {name} (chunk manifest in blob {b.chunks_blob[:12]}…)"
            count = b.chunk_total
            return f"extracted {name}: {count} chunk{'' if count == 1 else 's'}"
        case SourceRejected():
            return f"rejected {name}: {b.message}"
        case SourceEdited():
            return f"edited the text of {name}"
        case SourceRetagged():
            return f"retagged {name}: {', '.join(b.tags)}" if b.tags else f"untagged {name}"
        case SourceRemoved():
            return f"removed {name}"
        case ThreadStarted():
            return f'started the thread "{b.title}"' if b.title else "started a thread"
        case MessagePosted(role="user"):
            return f"asked: {_snippet(b.text)}"
        case MessagePosted():
            cited = len(b.citations)
            extra = f"{cited} citation{'' if cited == 1 else 's'}" + (
                f", {b.model}" if b.model else ""
            )
            return f"answered: {_snippet(b.text)} ({extra})"
        case ShareGranted():
            allowed = f"; may {', '.join(b.permissions)}" if b.permissions else ""
            return f"shared with {b.grantee} ({b.mode}{allowed})"
        case ShareRevoked():
            return f"revoked share {b.share}"
        case HeadSigned():
            return f"signed the head at rev {b.rev}"
        case UnknownEvent():
            return f"{b.type} (an event this version does not know)"
    return type(b).__name__
