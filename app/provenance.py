"""An answer's provenance: the rev it saw, its cited passages resolved to text, its model, its
recorded retrieval configuration, and the same retrieval run again at that rev.

Read from the chapter's log (chain checked), not from the chat view: the answer's
`MessagePosted` is found by id in its thread, then the chapter is folded through the answer's
`answered_at_rev` R, keeping each source's last extraction. A citation is resolved by its chunk
hash: the chunk manifest of the source's extraction as of R gives the span, the text blob gives
the characters, and `verified` says the text's BLAKE3 equals the hash (the citation's own span is
only the fallback when the manifest no longer has the chunk).

The re-run searches the recorded standalone query (`MessagePosted.query`; for answers written
before it was recorded, the thread's last question before the answer) with the recorded k and
tags, as of R (`app.asof.search_as_of`). `same` compares:

- the whole retrieved list, when the answer recorded its digest (`Retrieval.passages`): the
  re-run's passages in rank order hash to the same value;
- otherwise (older answers) only the citations: each cited chunk is among the re-run's passages.

A re-run can differ honestly: a different embedder than the one recorded (the notes say so), an
approximate index reordering near-ties, or a chapter changing while the answer was retrieving (R is
a lower bound of what the live index had folded then).
"""

from __future__ import annotations

from typing import Literal

import msgspec

import rust_core
from app.answers import passages_digest
from app.asking import DEFAULT_K, WAIT_S, IndexBehind
from app.asof import check_rev, search_as_of
from app.readside import ReadSide
from engine.errors import BlobNotFound
from engine.rules import Invalid, NotFound
from events import (
    Citation,
    MessagePosted,
    Retrieval,
    SourceAdded,
    SourceExtracted,
    Span,
    TokenUsage,
)
from projections.audit import ChapterFold, read_envelopes
from projections.ingest import load_manifest
from projections.vectors import SEARCH_MODES, SearchHit

__all__ = ["MessageNotFound", "Provenance", "ResolvedPassage", "provenance"]


class MessageNotFound(NotFound):
    """No message with this id in this thread of this chapter (HTTP 404)."""

    code = "message_not_found"


class ResolvedPassage(msgspec.Struct, frozen=True, kw_only=True):
    """A cited passage, its text read back from the chapter as of the answer's rev."""

    source: str
    source_name: str
    chunk: str
    span: Span
    text: str
    """The passage's text ("" when it could not be read back)."""
    verified: bool
    """Whether the text's BLAKE3 is the chunk hash cited."""
    note: str | None = None


class Provenance(msgspec.Struct, frozen=True, kw_only=True):
    """Where an answer came from, and whether its retrieval can be repeated."""

    chapter: str
    thread: str
    message: str
    message_rev: int
    """Rev of the answer's own event."""
    answered_at_rev: int
    """The rev retrieval saw."""
    hash_at_rev: str
    """Hex chain hash at `answered_at_rev`: pins the chapter the answer saw."""
    model: str | None
    usage: TokenUsage | None
    query: str
    """The query searched (recorded, or the thread's question for older answers)."""
    query_recorded: bool
    retrieval: Retrieval | None
    """The recorded configuration (None for older answers: k and tags default)."""
    citations: list[ResolvedPassage]
    rerun: list[SearchHit]
    """The passages the same retrieval finds at `answered_at_rev` today."""
    same: bool
    compared: Literal["passages", "citations"]
    """What `same` compared: the whole retrieved list (by digest) or only the citations."""
    notes: list[str]


class _Found(msgspec.Struct, kw_only=True):
    rev: int
    body: MessagePosted
    question: str | None


async def _find(read: ReadSide, chapter: str, thread: str, message: str) -> _Found:
    question: str | None = None
    async for _, e in read_envelopes(read.logs.chapter(chapter)):
        body = e.body
        if isinstance(body, MessagePosted) and body.thread == thread:
            if body.message == message:
                return _Found(rev=e.rev, body=body, question=question)
            if body.role == "user":
                question = body.text
    raise MessageNotFound(f"there is no message {message} in thread {thread}")


async def _resolve(
    read: ReadSide, fold: ChapterFold, extracted: dict[str, SourceExtracted], c: Citation
) -> ResolvedPassage:
    source = fold.sources.get(c.source)
    name = source.name if source else ""

    def unresolved(note: str) -> ResolvedPassage:
        return ResolvedPassage(
            source=c.source, source_name=name, chunk=c.chunk, span=c.span, text="",
            verified=False, note=note,
        )  # fmt: skip

    body = extracted.get(c.source)
    if source is None or source.text_blob is None or body is None:
        return unresolved("the source had no extracted text at the answer's rev")
    try:
        manifest = await load_manifest(read.blobs, body)
        text = (await read.blobs.get(body.text_blob)).decode()
    except BlobNotFound:
        return unresolved("the source's text or chunk manifest is missing from the blob store")
    chunks = [ref for ref in manifest if ref.hash == c.chunk]
    ref = next((r for r in chunks if r.start == c.start), chunks[0] if chunks else None)
    span = c.span if ref is None else Span(
        start=ref.start, end=ref.end, page=ref.page, heading=ref.heading
    )  # fmt: skip
    passage = text[span.start : span.end]
    verified = rust_core.hash(passage.encode()).hex() == c.chunk
    note = None if ref is not None else "the chunk is not in the manifest; read at the cited span"
    return ResolvedPassage(
        source=c.source, source_name=name, chunk=c.chunk, span=span, text=passage,
        verified=verified, note=note,
    )  # fmt: skip


async def provenance(
    read: ReadSide, chapter: str, thread: str, message: str, *, wait_s: float = WAIT_S
) -> Provenance:
    """The provenance of answer `message` in `thread` (see the module's docstring)."""
    found = await _find(read, chapter, thread, message)
    body = found.body
    if body.role != "assistant":
        raise Invalid(f"message {message} is a question; provenance is for answers")
    rev = body.answered_at_rev
    if rev is None:
        raise Invalid(f"answer {message} did not record the rev it was answered at")
    log = read.logs.chapter(chapter)
    await check_rev(log, rev)

    # The chapter as the answer saw it, with each source's extraction as of then.
    fold = ChapterFold(chapter)
    extracted: dict[str, SourceExtracted] = {}
    if rev > 0:
        async for event, e in read_envelopes(log, 0, rev):
            fold.apply(e, event.hash)
            if isinstance(e.body, SourceAdded):
                extracted.pop(e.body.source, None)
            elif isinstance(e.body, SourceExtracted):
                extracted[e.body.source] = e.body
    citations = [await _resolve(read, fold, extracted, c) for c in body.citations]

    notes: list[str] = []
    retrieval = body.retrieval
    query = body.query if body.query is not None else (found.question or "")
    if body.query is None:
        notes.append("the answer predates recorded queries: its thread's question is re-run")
    if retrieval is not None and retrieval.embedder != read.vectors.embedder.model:
        notes.append(
            f"the answer was retrieved with embedder {retrieval.embedder}; this server embeds "
            f"with {read.vectors.embedder.model}, so the re-run cannot be the same"
        )
    if not await read.settle(chapter, rev, ["vectors"], within=wait_s):
        raise IndexBehind(f"the chapter's index is still catching up with rev {rev}")
    k = retrieval.k if retrieval is not None else DEFAULT_K
    tags = retrieval.tags if retrieval is not None else []
    mode = retrieval.mode if retrieval is not None else "vector"
    if mode not in SEARCH_MODES:
        notes.append(f"the answer was retrieved in mode {mode!r}, unknown here: re-run as vector")
        mode = "vector"
    rerun = (
        await search_as_of(read, chapter, query, rev=rev, k=k, tags=tags, mode=mode)  # type: ignore[arg-type]
        if query
        else []
    )
    compared: Literal["passages", "citations"]
    if retrieval is not None and retrieval.passages:
        compared = "passages"
        same = passages_digest([(h.source, h.chunk) for h in rerun]) == retrieval.passages
    else:
        compared = "citations"
        found_now = {(h.source, h.chunk) for h in rerun}
        same = all((c.source, c.chunk) in found_now for c in body.citations)
    return Provenance(
        chapter=chapter, thread=thread, message=message, message_rev=found.rev,
        answered_at_rev=rev, hash_at_rev=fold.hash.hex(), model=body.model, usage=body.usage,
        query=query, query_recorded=body.query is not None, retrieval=retrieval,
        citations=citations, rerun=rerun, same=same, compared=compared, notes=notes,
    )  # fmt: skip
