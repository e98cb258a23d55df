"""Sources over HTTP: add files or web pages to a chapter, list and read them, edit, retag, remove,
and search the chapter.

POST /v1/chapters/{chapter}/sources takes either

- `multipart/form-data`: one or more `file` parts and optional `tags` fields (each field one
  tag, given to every file of the request): `curl -F file=@a.pdf -F file=@b.docx -F tags=papers`.
  The files are read as they arrive (spooled to disk, never held whole in memory) and stored
  only once the whole request has arrived within `limits.upload_bytes` (else 413, nothing kept);
- JSON `{"url": "https://…", "tags": […]}`: the server fetches the page and its images
  (engine/webpages.py); a page that cannot be had is a 422 that says why.

Every new source starts `pending`. The ingest projection then extracts its text (`extracted`)
or says why it cannot (`rejected`, with `code` and `reason`): a file of a type RagStack cannot
read is accepted and then rejected (`unsupported`), never refused at the door, and an empty
file is rejected as `empty`. `?wait=true` answers once every new source has settled (within
SETTLE_WAIT_S), with its final status.

Reads first wait, briefly, for the catalogue to fold the chapter up to its head, so a script
sees its own writes; a search waits for the vector index the same way. When a projection runs
behind (another process folds it), the answer goes out with what there is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from engine.blobs import blob_hash
from engine.log import Log
from engine.rules import Conflict, Invalid, NotFound
from engine.sources import (
    MAX_TAG_CHARS,
    MAX_TAGS,
    add_source,
    clean_name,
    clean_tags,
    edit_source,
    remove_source,
    retag_source,
)
from engine.webpages import FetchLimits, WebFetcher, add_web_page
from events import SourceAdded
from gateway.deps import CurrentUser, ReadableChapter, ServicesDep, WritableChapter
from gateway.errors import BadRequest, UnsupportedMediaType, error_responses
from gateway.schemas_sources import (
    HitPublic,
    SearchRequest,
    SearchResults,
    SourceList,
    SourcePublic,
    SourcesAdded,
    SourceUpdate,
    Status,
    WebPageCreate,
)
from gateway.services import Services
from gateway.uploads import read_small_body, read_upload_form, upload_chunks, upload_media_type
from projections.catalogue import SourceView

__all__ = [
    "NotExtracted",
    "SourceGone",
    "SourceNotFound",
    "get_web_fetcher",
    "router",
]

READ_YOUR_WRITES_S = 5.0
"""How long a read waits for the catalogue (or a search for the index) to reach the head."""
SETTLE_WAIT_S = 60.0
"""How long `?wait=true` waits for ingest to settle the new sources."""
JSON_BODY_BYTES = 64 * 1024
"""Largest JSON body POST …/sources takes (a URL and tags)."""
_SourceId = Annotated[str, Path(max_length=64, description="A source id.")]


class SourceNotFound(NotFound):
    """No such source in this chapter."""

    code = "source_not_found"


class NotExtracted(Conflict):
    """The source has no extracted text (yet): pending, rejected or removed."""

    code = "not_extracted"


class SourceGone(Conflict):
    """The source was removed from the chapter."""

    code = "source_removed"


_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more files (each part with a filename).",
                        },
                        "tags": {
                            "type": "array",
                            "items": {"type": "string", "maxLength": MAX_TAG_CHARS},
                            "description": "Tags for every file of the request, one per field.",
                        },
                    },
                }
            },
            "application/json": {"schema": WebPageCreate.model_json_schema()},
        },
    }
}


def get_web_fetcher(services: ServicesDep) -> WebFetcher:
    """How web pages are fetched: pages up to the upload limit, from public addresses only.

    The operator's `web.allow_private_addresses` setting lets it reach private networks too.
    """
    settings = services.settings
    largest = min(FetchLimits().max_page_bytes, settings.limits.upload_bytes)
    return WebFetcher(
        FetchLimits(
            max_page_bytes=largest,
            allow_private_addresses=settings.web.allow_private_addresses,
        )
    )


WebFetcherDep = Annotated[WebFetcher, Depends(get_web_fetcher)]


# --- helpers ---


def _public(view: SourceView) -> SourcePublic:
    return SourcePublic.model_validate(view)


def _just_added(body: SourceAdded, rev: int) -> SourcePublic:
    return SourcePublic(
        id=body.source,
        name=body.name,
        media_type=body.media_type,
        size=body.size,
        status="pending",
        tags=sorted(set(body.tags)),
        rev=rev,
        origin=body.origin,
        url=body.url,
    )


async def _caught_up(
    services: Services,
    chapter: str,
    rev: int | None = None,
    projections: Sequence[str] = ("catalogue",),
) -> int:
    """Wait (bounded) until `projections` have folded `chapter` up to `rev` (default: head)."""
    if rev is None:
        rev = (await services.logs.chapter(chapter).head()).rev
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            services.worker.runner.wait(chapter, rev, projections=list(projections)),
            READ_YOUR_WRITES_S,
        )
    return rev


async def _settled(services: Services, chapter: str, sources: Iterable[str], rev: int) -> None:
    """Wait (bounded) until no source of `sources` is pending, and the index has caught up."""
    runner, catalogue = services.worker.runner, services.worker.catalogue
    wanted = list(sources)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SETTLE_WAIT_S):
            while True:
                await runner.wait(chapter, rev, projections=["catalogue"])
                views = [await catalogue.source(chapter, source) for source in wanted]
                if all(v is not None and v.status != "pending" for v in views):
                    break
                # Ingest's result is the next event the catalogue folds.
                rev = max(rev, runner.positions(chapter).get("catalogue", rev)) + 1
            settled = max(rev, runner.positions(chapter).get("catalogue", rev))
            await runner.wait(chapter, settled, projections=["vectors"])


async def _revs_of(log: Log, after: int, added: Sequence[SourceAdded]) -> dict[str, int]:
    """The revision of each `SourceAdded` in `added`, read from the log after `after`."""
    wanted = {body.source for body in added}
    found: dict[str, int] = {}
    async with contextlib.aclosing(log.read(after=after)) as events:
        async for event in events:
            body = event.envelope.body
            if isinstance(body, SourceAdded) and body.source in wanted:
                found[body.source] = event.rev
                if len(found) == len(wanted):
                    break
    return found


async def _source(services: Services, chapter: str, source: str) -> SourceView:
    """The catalogue's view of `source` (caught up with the head); SourceNotFound if none."""
    await _caught_up(services, chapter)
    view = await services.worker.catalogue.source(chapter, source)
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


def _parse_json(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


def _attachment(name: str) -> str:
    # A plain-ASCII fallback for old clients, the exact name per RFC 6266 for the rest; neither
    # may carry a quote, a backslash or a control character into the header.
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def _add_uploads(
    request: Request, services: Services, actor: str, log: Log
) -> list[SourceAdded]:
    limit = services.settings.limits.upload_bytes
    form = await read_upload_form(request, limit=limit, file_field="file", fields=["tags"])
    try:
        if not form.files:
            raise BadRequest(
                "the upload has no file: send one or more 'file' parts (curl: -F file=@path)"
            )
        # Everything is checked before the first source is added, so a refusal adds none.
        tags = clean_tags(form.values("tags"))
        names = []
        for upload in form.files:
            if not (upload.filename or "").strip():
                raise Invalid("every file needs a filename (in its part's Content-Disposition)")
            names.append(clean_name(upload.filename or ""))
        added = []
        for upload, name in zip(form.files, names, strict=True):
            added.append(
                await add_source(
                    log,
                    services.blobs,
                    actor=actor,
                    name=name,
                    data=upload_chunks(upload),
                    media_type=upload_media_type(upload),
                    tags=tags,
                    origin="upload",
                    max_size=limit,
                )
            )
        return added
    finally:
        await form.close()


# --- routes ---

router = APIRouter(tags=["sources"], responses=error_responses(401, 403, 404))


@router.get("/chapters/{chapter}/sources")
async def read_sources(
    services: ServicesDep,
    chapter: ReadableChapter,
    tag: Annotated[
        list[str] | None,
        Query(max_length=MAX_TAGS, description="Only sources with any of these tags (repeat it)."),
    ] = None,
    tags: Annotated[
        str | None,
        Query(max_length=MAX_TAGS * (MAX_TAG_CHARS + 1), description="The same, comma-separated."),
    ] = None,
    status_: Annotated[
        list[Status] | None,
        Query(alias="status", description="Only sources in these states (repeat it)."),
    ] = None,
) -> SourceList:
    """The chapter's sources, oldest first; removed ones only when asked for by status."""
    await _caught_up(services, chapter.id)
    wanted = [*(tag or []), *(t for t in (tags or "").split(",") if t.strip())]
    views = await services.worker.catalogue.sources(
        chapter.id,
        include_removed="removed" in (status_ or []),
        tags=[t.strip() for t in wanted] or None,
    )
    if status_:
        views = [v for v in views if v.status in status_]
    return SourceList(sources=[_public(v) for v in views])


@router.post(
    "/chapters/{chapter}/sources",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(413, 415),
    openapi_extra=_CREATE_BODY,
)
async def create_sources(
    request: Request,
    services: ServicesDep,
    user: CurrentUser,
    chapter: WritableChapter,
    fetcher: WebFetcherDep,
    wait: Annotated[
        bool,
        Query(
            description=f"Answer once every new source is extracted or rejected (≤ {SETTLE_WAIT_S:g} s)."
        ),
    ] = False,
) -> SourcesAdded:
    """Upload files (multipart) or add a web page (JSON `{url, tags}`); each becomes a source.

    New sources are `pending` until ingest extracts them; files RagStack cannot read are
    accepted and then `rejected` with a reason.
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    log = services.logs.chapter(chapter.id)
    before = (await log.head()).rev
    if content_type == "multipart/form-data":
        added = await _add_uploads(request, services, user.id, log)
    elif content_type == "application/json" or content_type.endswith("+json"):
        page: WebPageCreate = _parse_json(
            WebPageCreate, await read_small_body(request, JSON_BODY_BYTES)
        )
        added = [
            await add_web_page(
                log, services.blobs, fetcher, actor=user.id, url=page.url, tags=page.tags
            )
        ]
    else:
        shown = content_type or "no Content-Type"
        raise UnsupportedMediaType(
            f"sources are added as multipart/form-data (files) or application/json "
            f'({{"url": …}}), not {shown}'
        )
    revs = await _revs_of(log, before, added)
    rev = max(revs.values(), default=before)
    if wait:
        await _settled(services, chapter.id, [a.source for a in added], rev)
    else:
        await _caught_up(services, chapter.id, rev)
    catalogue = services.worker.catalogue
    sources = []
    for body in added:
        view = await catalogue.source(chapter.id, body.source)
        sources.append(_public(view) if view else _just_added(body, revs.get(body.source, rev)))
    return SourcesAdded(sources=sources, rev=rev)


@router.get("/chapters/{chapter}/sources/{source}")
async def read_source(
    services: ServicesDep, chapter: ReadableChapter, source: _SourceId
) -> SourcePublic:
    """One source of the chapter (removed ones too, with status `removed`)."""
    return _public(await _source(services, chapter.id, source))


@router.get(
    "/chapters/{chapter}/sources/{source}/text",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **error_responses(409),
    },
)
async def read_source_text(
    services: ServicesDep, chapter: ReadableChapter, source: _SourceId
) -> Response:
    """The source's extracted text (text/plain); 409 `not_extracted` while it has none."""
    view = await _source(services, chapter.id, source)
    if view.status != "extracted" or view.text_blob is None:
        raise _no_text(view)
    text = await services.blobs.get(view.text_blob)
    return Response(content=text, media_type="text/plain; charset=utf-8")


@router.get(
    "/chapters/{chapter}/sources/{source}/file",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The bytes."}},
)
async def read_source_file(
    services: ServicesDep, chapter: ReadableChapter, source: _SourceId
) -> StreamingResponse:
    """The source's original bytes, as a download in its media type."""
    view = await _source(services, chapter.id, source)
    chunks = services.blobs.iter(view.blob)
    # The first chunk is read before answering: a missing blob is an error, not a cut download.
    first = await anext(chunks, b"")

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    headers = {
        "Content-Disposition": _attachment(view.name),
        "Content-Length": str(view.size),
        # Uploaded HTML must not run as a page of this origin.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    return StreamingResponse(body(), media_type=view.media_type, headers=headers)


@router.patch("/chapters/{chapter}/sources/{source}", responses=error_responses(409))
async def update_source(
    body: SourceUpdate,
    services: ServicesDep,
    user: CurrentUser,
    chapter: WritableChapter,
    source: _SourceId,
) -> SourcePublic:
    """Retag a source and/or correct its extracted text (the edit is logged as a patch)."""
    if body.tags is None and body.text is None:
        raise Invalid("send the new `tags`, the corrected `text`, or both")
    view = await _source(services, chapter.id, source)
    if view.status == "removed":
        raise SourceGone(f"{view.name} was removed from the chapter")
    # Everything is checked before the first event, so a refused request changes nothing.
    tags = clean_tags(body.tags) if body.tags is not None else None
    if body.text is not None:
        if view.status != "extracted" or view.text_blob is None:
            raise _no_text(view)
        if not body.text.strip():
            raise Invalid("the text cannot be empty; to take the source out, DELETE it")
    log = services.logs.chapter(chapter.id)
    if tags is not None and tags != view.tags:
        await retag_source(log, actor=user.id, source=view.id, tags=tags)
    if body.text is not None and view.text_blob != blob_hash(body.text.encode()):
        await edit_source(
            log,
            services.blobs,
            actor=user.id,
            source=view.id,
            base_text=view.text_blob,  # type: ignore[arg-type]  # checked above
            new_text=body.text,
        )
    return _public(await _source(services, chapter.id, source))


@router.delete(
    "/chapters/{chapter}/sources/{source}",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_source(
    services: ServicesDep, user: CurrentUser, chapter: WritableChapter, source: _SourceId
) -> None:
    """Take a source out of the chapter and out of search (its history stays in the log)."""
    view = await _source(services, chapter.id, source)
    if view.status != "removed":
        await remove_source(services.logs.chapter(chapter.id), actor=user.id, source=view.id)
        await _caught_up(services, chapter.id)


@router.post("/chapters/{chapter}/search")
async def search_chapter(
    body: SearchRequest, services: ServicesDep, chapter: ReadableChapter
) -> SearchResults:
    """The `k` passages of the chapter nearest to `query`, optionally only from tagged sources."""
    query = body.query.strip()
    if not query:
        raise Invalid("the query is empty")
    rev = await _caught_up(services, chapter.id, projections=["vectors"])
    tags = [t.strip() for t in body.tags] if body.tags else None
    hits = await services.worker.vectors.search(chapter.id, query, k=body.k, tags=tags)
    folded = services.worker.runner.positions(chapter.id).get("vectors", rev)
    return SearchResults(hits=[HitPublic.model_validate(h) for h in hits], rev=folded)
