"""Audit views: the chapter as it was at rev N or at time T, event summaries, inclusion proofs.

Unlike the other read models this one keeps nothing: each question folds a prefix of the log in
memory (`ChapterFold`), so the answer comes from the verified log itself and never depends on a
projection's lag or on a store that could have been edited. The fold is the chapter fold the
catalogue and the chat view drive (`projections.fold`: the same rules, the same records), so a
source "as it was" reads like a source now.

A prefix is read with the chain checked, and each envelope must name this chapter and its own
rev (as `engine.verify` demands); anything else is `ChainBroken` naming the rev.

Merkle proofs (`inclusion_proof`) take the chain hashes h[1..size] as leaves: a client holding the
root of the first `size` events checks one event with `rust_core.merkle_verify(root, leaf,
rev - 1, size, proof)` without fetching the others.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable, Mapping

import msgspec

import rust_core
from engine.errors import ChainBroken
from engine.log import GENESIS, Log
from engine.personal import open_envelopes
from events import (
    ChapterCreated,
    ChapterForked,
    ChapterMirrored,
    ChapterRenamed,
    DecodeError,
    Envelope,
    HeadSigned,
    MessagePosted,
    MirrorSynced,
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
from projections import fold as rules
from projections.fold import MessageView, ShareView, SourceView, ThreadView

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
    "require_events",
    "rev_at_time",
    "source_of",
    "summarize",
]


class AuditRangeError(ValueError):
    """A rev or size outside the log as it stands (the caller should have checked the head)."""


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


class ChapterFold(rules.ChapterFold):
    """The chapter fold over a verified prefix: each event must be this chapter's next rev.

    Feed envelopes in log order with `apply`; `snapshot` gives the state so far, pinned by the
    chain hash of the last event (when `apply` was given it).
    """

    def __init__(self, chapter: str) -> None:
        super().__init__(chapter)
        self.hash = GENESIS

    def apply(self, e: Envelope, hash: bytes | None = None) -> None:
        """Fold the next event; `hash` is its chain hash, when known (kept for the snapshot)."""
        if e.chapter != self.chapter:
            raise ChainBroken(self.chapter, e.rev, f"the event belongs to {e.chapter!r}")
        if e.rev != self.rev + 1:
            raise ChainBroken(
                self.chapter, self.rev + 1, f"the fold expected rev {self.rev + 1}, got {e.rev}"
            )
        super().apply(e)
        self.hash = hash if hash is not None else self.hash

    def copy(self) -> ChapterFold:
        """An independent fold at the same rev. Shallow, and cheap (no record is copied): the
        rules never change a record in place, they replace it (records are frozen), so the two
        folds share every record and each goes on with its own dicts."""
        other = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, dict):  # the record maps: every other attribute is immutable
                setattr(other, name, dict(value))
        return other

    @property
    def records(self) -> int:
        """How many records the fold holds (what a copy of it costs)."""
        return len(self.sources) + len(self.threads) + len(self.messages) + len(self.shares)

    def snapshot(self) -> ChapterSnapshot:
        """The state after the last event applied."""
        identity = self.identity
        return ChapterSnapshot(
            chapter=self.chapter,
            rev=self.rev,
            hash=self.hash,
            at=self.at,
            book=None if identity is None else identity.book,
            title="" if identity is None else identity.title,
            forked_from=None if identity is None else identity.forked_from,
            sources=list(self.sources.values()),
            threads=list(self.threads.values()),
            messages=list(self.messages.values()),
            shares=list(self.shares.values()),
        )


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
    """The verified events after `after` through `until`, each with its checked envelope,
    personal fields opened from the log's blob store (or marked erased; engine/personal.py)."""
    async for batch in log.read_batches(after, until, verify=True):
        envelopes = await open_envelopes(log.blobs, [checked_envelope(log.id, e) for e in batch])
        for event, e in zip(batch, envelopes, strict=True):
            yield event, e


async def chapter_at_rev(log: Log, rev: int) -> ChapterSnapshot:
    """The chapter as it was at `rev` (0: before its first event)."""
    if rev < 0:
        raise AuditRangeError(f"revisions start at 1 (0 for the empty chapter), not {rev}")
    await require_events(log, rev)
    state = ChapterFold(log.id)
    async for event, e in read_envelopes(log, 0, rev):
        state.apply(e, event.hash)
    return state.snapshot()


async def require_events(log: Log, count: int) -> None:
    """`AuditRangeError` unless the log holds `count` events (a read through a rev past the
    head would wait for it to be written: refuse it first)."""
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
    await require_events(log, size)
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
        case ChapterMirrored():
            return f"started following chapter {b.from_chapter} ({b.mode} share {b.share})"
        case MirrorSynced():
            return f"caught up with the original at its rev {b.rev}"
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
