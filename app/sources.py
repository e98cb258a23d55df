"""Sources of a chapter: the commands that add, edit, retag and remove them, and the queries
that read them, each returning what it appended (revs) and waiting for its own writes.

The caller has checked that the actor may read or write the chapter (`Books.chapter_access`).
Every new source starts `pending`; the ingest projection then extracts its text (`extracted`) or
says why it cannot (`rejected`, with a code and a reason). Reads first wait, briefly, for the
catalogue to fold the chapter up to its head (`Services.settled`), so a script sees its own
writes; when a projection runs behind (another process folds it), the answer goes out with what
there is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

import msgspec

from app import forwarding
from app.asof import search_as_of
from app.reranking import SERVER, RerankChoice, depth_for, reranked, resolve
from app.services import Services
from engine.blobs import blob_hash
from engine.rules import Conflict, Invalid, NotFound
from engine.sources import clean_name, clean_tags, edit_source, prepare_source, remove_source
from engine.sources import retag_source as retag
from engine.webpages import WebFetcher, fetch_web_page
from events import RecordedEvent, SourceAdded
from projections.catalogue import SourceView, Status
from projections.vectors import DEFAULT_SEARCH_MODE, SearchHit, SearchMode

__all__ = [
    "SETTLE_WAIT_S",
    "Added",
    "NewFile",
    "NotExtracted",
    "SourceChanged",
    "SourceGone",
    "SourceNotFound",
    "add_files",
    "add_page",
    "list_sources",
    "read_source",
    "read_source_file",
    "read_source_text",
    "remove",
    "search",
    "update",
]

SETTLE_WAIT_S = 60.0
"""How long `wait=True` waits for ingest to settle the new sources."""


class SourceNotFound(NotFound):
    """No such source in this chapter."""

    code = "source_not_found"


class NotExtracted(Conflict):
    """The source has no extracted text (yet): pending, rejected or removed."""

    code = "not_extracted"


class SourceGone(Conflict):
    """The source was removed from the chapter."""

    code = "source_removed"


class SourceChanged(Conflict):
    """The source changed after the revision an edit was based on (another edit, a retag, a
    re-extraction): applying it would silently undo that change."""

    code = "source_changed"


@dataclass(frozen=True, slots=True)
class NewFile:
    """One file to add: its name as the user knows it, its bytes as they arrive."""

    name: str
    data: AsyncIterable[bytes] | bytes
    media_type: str


class Added(msgspec.Struct, frozen=True, kw_only=True):
    """What adding sources appended: each new source as the catalogue shows it, and the last rev."""

    sources: list[SourceView]
    rev: int


# -- commands ----------------------------------------------------------------------------------


async def add_files(
    services: Services,
    chapter: str,
    *,
    actor: str,
    files: Sequence[NewFile],
    tags: Sequence[str] = (),
    wait: bool = False,
) -> Added:
    """Store each file and append its `SourceAdded`; with `wait`, answer once each has settled.

    Everything is checked before the first source is added, so a refusal adds none; a file over
    the upload limit raises BlobTooLarge.
    """
    if not files:
        raise Invalid("there is no file to add")
    forwarded = await forwarding.add_files(services, chapter, files, tags)
    if forwarded is not None:  # a live mirror: the owner's chapter takes them
        return Added(sources=forwarded, rev=(await services.logs.chapter(chapter).head()).rev)
    cleaned = clean_tags(tags)
    names = [clean_name(f.name) for f in files]
    limit = services.settings.limits.upload_bytes
    log = services.logs.chapter(chapter)
    added: list[tuple[SourceAdded, int]] = []
    for file, name in zip(files, names, strict=True):
        body = await prepare_source(
            services.blobs,
            name=name,
            data=file.data,
            media_type=file.media_type,
            tags=cleaned,
            origin="upload",
            max_size=limit,
        )
        recorded = await log.append(body, actor=actor)
        added.append((_as_stored(body, recorded), recorded.rev))
    return await _added(services, chapter, added, wait=wait)


def _as_stored(body: SourceAdded, recorded: RecordedEvent) -> SourceAdded:
    """The source as the log holds it: a client's retried upload (its Idempotency-Key) gets the
    source that the first attempt stored, not the new id this attempt made up."""
    stored = recorded.envelope.body
    return stored if isinstance(stored, SourceAdded) else body


async def add_page(
    services: Services,
    chapter: str,
    *,
    actor: str,
    fetcher: WebFetcher,
    url: str,
    tags: Sequence[str] = (),
    wait: bool = False,
) -> Added:
    """Fetch the page at `url` (and its images) and append its `SourceAdded`."""
    body = await fetch_web_page(services.blobs, fetcher, url=url, tags=tags)
    recorded = await services.logs.chapter(chapter).append(body, actor=actor)
    return await _added(services, chapter, [(_as_stored(body, recorded), recorded.rev)], wait=wait)


async def update(
    services: Services,
    chapter: str,
    source: str,
    *,
    actor: str,
    tags: Sequence[str] | None = None,
    text: str | None = None,
    base_rev: int | None = None,
) -> SourceView:
    """Retag a source and/or correct its extracted text (logged as a patch); the source after.

    With `base_rev` (the source's `rev` when the caller read it), a source changed since is
    refused with `SourceChanged` rather than overwritten: the check is against the catalogue
    folded to the head, so only a change landing in the few milliseconds between this read and
    the append slips through.
    """
    if tags is None and text is None:
        raise Invalid("send the new `tags`, the corrected `text`, or both")
    view = await read_source(services, chapter, source)
    if base_rev is not None and view.rev != base_rev and view.status != "removed":
        raise SourceChanged(
            f"{view.name} changed since you opened it (revision {base_rev}, now {view.rev}); "
            "reload it and make your change again"
        )
    if await forwarding.update(services, chapter, view.id, tags, text):
        return view  # changed in the owner's chapter; the mirror shows it with the next sync
    if view.status == "removed":
        raise SourceGone(f"{view.name} was removed from the chapter")
    # Everything is checked before the first event, so a refused request changes nothing.
    cleaned = clean_tags(tags) if tags is not None else None
    if text is not None:
        if view.status != "extracted" or view.text_blob is None:
            raise _no_text(view)
        if not text.strip():
            raise Invalid("the text cannot be empty; to take the source out, remove it")
    log = services.logs.chapter(chapter)
    rev = None
    if cleaned is not None and cleaned != view.tags:
        rev = await retag(log, actor=actor, source=view.id, tags=cleaned)
    if (
        text is not None
        and view.text_blob is not None
        and view.text_blob != blob_hash(text.encode())
    ):
        rev = await edit_source(
            log,
            services.blobs,
            actor=actor,
            source=view.id,
            base_text=view.text_blob,
            new_text=text,
        )
    if rev is not None:
        await services.settled(chapter, rev)
    return await _view(services, chapter, source)


async def remove(services: Services, chapter: str, source: str, *, actor: str) -> None:
    """Take a source out of the chapter and out of search (its history stays in the log)."""
    view = await read_source(services, chapter, source)
    if view.status != "removed" and await forwarding.remove(services, chapter, view.id):
        return
    if view.status != "removed":
        rev = await remove_source(services.logs.chapter(chapter), actor=actor, source=view.id)
        await services.settled(chapter, rev)


# -- queries -----------------------------------------------------------------------------------


async def list_sources(
    services: Services,
    chapter: str,
    *,
    tags: Sequence[str] = (),
    statuses: Sequence[Status] = (),
) -> list[SourceView]:
    """The chapter's sources, oldest first; removed ones only when `statuses` asks for them."""
    await services.settled(chapter)
    views = await services.read.catalogue.sources(
        chapter, include_removed="removed" in statuses, tags=[t.strip() for t in tags] or None
    )
    return [v for v in views if v.status in statuses] if statuses else views


async def read_source(services: Services, chapter: str, source: str) -> SourceView:
    """One source (caught up with the head), removed ones too; SourceNotFound if none."""
    await services.settled(chapter)
    return await _view(services, chapter, source)


async def read_source_text(services: Services, chapter: str, source: str) -> bytes:
    """The source's extracted text (UTF-8); NotExtracted while it has none."""
    view = await read_source(services, chapter, source)
    if view.status != "extracted" or view.text_blob is None:
        raise _no_text(view)
    return await services.blobs.get(view.text_blob)


async def read_source_file(
    services: Services, chapter: str, source: str
) -> tuple[SourceView, AsyncIterator[bytes]]:
    """The source and its original bytes. The first chunk is read before returning, so a
    missing blob is an error here, not a download cut short."""
    view = await read_source(services, chapter, source)
    chunks = services.blobs.iter(view.blob)
    first = await anext(chunks, b"")

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return view, body()


async def search(
    services: Services,
    chapter: str,
    query: str,
    *,
    k: int,
    tags: Sequence[str] | None = None,
    rev: int | None = None,
    mode: SearchMode = DEFAULT_SEARCH_MODE,
    rerank: RerankChoice = SERVER,
) -> tuple[list[SearchHit], int]:
    """The `k` passages best matching `query` by `mode` (the book's setting; optionally only from
    tagged sources), reordered by `rerank` (the book's service; SERVER: the server's), and the
    rev the index had folded when it answered; with `rev`, as the chapter was then (and
    `rev`)."""
    query = query.strip()
    if not query:
        raise Invalid("the query is empty")
    await services.settled(chapter, projections=["vectors"])
    wanted = [t.strip() for t in tags] if tags else None
    if rev is not None:
        hits = await search_as_of(
            services.read, chapter, query, rev=rev, k=k, tags=wanted, mode=mode
        )
        return hits, rev
    service = resolve(services.read, rerank)
    found = await services.read.vectors.search(
        chapter, query, k=depth_for(service, k), tags=wanted, mode=mode
    )
    hits = await reranked(service, query, found, k=k)
    return hits, await services.read.settle.position(chapter, "vectors")


# -- helpers -----------------------------------------------------------------------------------


async def _view(services: Services, chapter: str, source: str) -> SourceView:
    view = await services.read.catalogue.source(chapter, source)
    if view is None:
        raise SourceNotFound(f"there is no source {source} in this chapter")
    return view


def _no_text(view: SourceView) -> NotExtracted:
    if view.status == "pending":
        return NotExtracted(
            f"{view.name} is still being extracted; try again shortly "
            "(or add sources with ?wait=true)"
        )
    if view.status == "rejected":
        return NotExtracted(f"{view.name} has no text: it was rejected ({view.reason})")
    return NotExtracted(f"{view.name} was removed from the chapter")


def _just_added(body: SourceAdded, rev: int) -> SourceView:
    return SourceView(
        id=body.source, name=body.name, media_type=body.media_type, size=body.size,
        status="pending", reason=None, tags=sorted(set(body.tags)), rev=rev, blob=body.blob,
        origin=body.origin, url=body.url,
    )  # fmt: skip


async def _added(
    services: Services, chapter: str, added: list[tuple[SourceAdded, int]], *, wait: bool
) -> Added:
    rev = max(r for _, r in added)
    if wait:
        await _settle_sources(services, chapter, [b.source for b, _ in added], rev)
    else:
        await services.settled(chapter, rev)
    catalogue = services.read.catalogue
    views = []
    for body, at in added:
        view = await catalogue.source(chapter, body.source)
        views.append(view if view is not None else _just_added(body, at))
    return Added(sources=views, rev=rev)


async def _settle_sources(
    services: Services, chapter: str, sources: Sequence[str], rev: int
) -> None:
    """Wait (bounded) until no source of `sources` is pending, and the index has caught up."""
    settle, catalogue = services.read.settle, services.read.catalogue
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SETTLE_WAIT_S):
            while True:
                await settle(chapter, rev, ["catalogue"], within=SETTLE_WAIT_S)
                views = [await catalogue.source(chapter, source) for source in sources]
                if all(v is not None and v.status != "pending" for v in views):
                    break
                # Ingest's result is the next event the catalogue folds.
                rev = max(rev, await settle.position(chapter, "catalogue")) + 1
            settled = max(rev, await settle.position(chapter, "catalogue"))
            await settle(chapter, settled, ["vectors"], within=SETTLE_WAIT_S)
