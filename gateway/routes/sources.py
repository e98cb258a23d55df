"""Sources over HTTP: add files or web pages to a chapter, list and read them, edit, retag, remove,
and search the chapter.

POST /v1/chapters/{chapter}/sources takes either

- `multipart/form-data`: one or more `file` parts and optional `tags` fields (each field one
  tag, given to every file of the request): `curl -F file=@a.pdf -F file=@b.docx -F tags=papers`.
  The files are read as they arrive (spooled to disk, never held whole in memory) and stored
  only once the whole request has arrived within `limits.upload_bytes` (else 413, nothing kept);
- JSON `{"url": "https://…", "tags": […]}`: the server fetches the page and its images
  (engine/webpages.py); a page that cannot be had is a 422 that says why.

Every new source starts `pending`; a file of a type RagStack cannot read is accepted and then
rejected (`unsupported`), never refused at the door. `?wait=true` answers once every new source
has settled. The commands and queries, with their read-your-writes waits, are app/sources.py;
this module parses HTTP and shapes answers.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from app import erasure as app_erasure
from app import sources as app_sources
from app.services import Services
from app.sources import SETTLE_WAIT_S, Added, NewFile
from engine.rules import Invalid
from engine.sources import MAX_TAG_CHARS, MAX_TAGS
from engine.webpages import FetchLimits, WebFetcher
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
from gateway.uploads import (
    multipart_body,
    read_small_body,
    read_upload_form,
    upload_chunks,
    upload_media_type,
)
from projections.catalogue import SourceView

__all__ = [
    "CREATE_BODY",
    "WebFetcherDep",
    "add_from_request",
    "add_uploads",
    "get_web_fetcher",
    "router",
    "source_public",
    "sources_added",
]

JSON_BODY_BYTES = 64 * 1024
"""Largest JSON body POST …/sources takes (a URL and tags)."""
_SourceId = Annotated[str, Path(max_length=64, description="A source id.")]


class SourceErased(BaseModel):
    """What erasing a source did."""

    rev: int | None
    """The rev of the chapter's ContentErased event (None: it was erased already)."""
    blobs_deleted: int
    """How many blobs left this server's blob store (shared ones stay)."""


CREATE_BODY: dict[str, Any] = multipart_body(
    "One or more files (each part with a filename).",
    fields={
        "tags": {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_TAG_CHARS},
            "description": "Tags for every file of the request, one per field.",
        }
    },
    json_schema=WebPageCreate.model_json_schema(),
)


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


def source_public(view: SourceView) -> SourcePublic:
    return SourcePublic.model_validate(view)


def sources_added(added: Added) -> SourcesAdded:
    return SourcesAdded(sources=[source_public(v) for v in added.sources], rev=added.rev)


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


async def add_uploads(
    request: Request, services: Services, actor: str, chapter: str, wait: bool
) -> Added:
    limit = services.settings.limits.upload_bytes
    form = await read_upload_form(request, limit=limit, file_field="file", fields=["tags"])
    try:
        if not form.files:
            raise BadRequest(
                "the upload has no file: send one or more 'file' parts (curl: -F file=@path)"
            )
        if any(not (upload.filename or "").strip() for upload in form.files):
            raise Invalid("every file needs a filename (in its part's Content-Disposition)")
        files = [
            NewFile(
                name=upload.filename or "",
                data=upload_chunks(upload),
                media_type=upload_media_type(upload),
            )
            for upload in form.files
        ]
        return await app_sources.add_files(
            services, chapter, actor=actor, files=files, tags=form.values("tags"), wait=wait
        )
    finally:
        await form.close()


async def add_from_request(
    request: Request,
    services: Services,
    actor: str,
    chapter: str,
    fetcher: WebFetcher,
    *,
    wait: bool,
) -> Added:
    """Add the files (multipart) or the web page (JSON `{url, tags}`) a request carries."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "multipart/form-data":
        added = await add_uploads(request, services, actor, chapter, wait)
    elif content_type == "application/json" or content_type.endswith("+json"):
        page: WebPageCreate = _parse_json(
            WebPageCreate, await read_small_body(request, JSON_BODY_BYTES)
        )
        added = await app_sources.add_page(
            services, chapter, actor=actor, fetcher=fetcher, url=page.url, tags=page.tags,
            wait=wait,
        )  # fmt: skip
    else:
        shown = content_type or "no Content-Type"
        raise UnsupportedMediaType(
            f"sources are added as multipart/form-data (files) or application/json "
            f'({{"url": …}}), not {shown}'
        )
    return added


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
    wanted = [*(tag or []), *(t for t in (tags or "").split(",") if t.strip())]
    views = await app_sources.list_sources(
        services, chapter.id, tags=wanted, statuses=status_ or ()
    )
    return SourceList(sources=[source_public(v) for v in views])


@router.post(
    "/chapters/{chapter}/sources",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(413, 415),
    openapi_extra=CREATE_BODY,
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
    added = await add_from_request(request, services, user.id, chapter.id, fetcher, wait=wait)
    return sources_added(added)


@router.get("/chapters/{chapter}/sources/{source}")
async def read_source(
    services: ServicesDep, chapter: ReadableChapter, source: _SourceId
) -> SourcePublic:
    """One source of the chapter (removed ones too, with status `removed`)."""
    return source_public(await app_sources.read_source(services, chapter.id, source))


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
    text = await app_sources.read_source_text(services, chapter.id, source)
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
    view, body = await app_sources.read_source_file(services, chapter.id, source)
    headers = {
        "Content-Disposition": _attachment(view.name),
        "Content-Length": str(view.size),
        # Uploaded HTML must not run as a page of this origin.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    return StreamingResponse(body, media_type=view.media_type, headers=headers)


@router.patch("/chapters/{chapter}/sources/{source}", responses=error_responses(409))
async def update_source(
    body: SourceUpdate,
    services: ServicesDep,
    user: CurrentUser,
    chapter: WritableChapter,
    source: _SourceId,
) -> SourcePublic:
    """Retag a source and/or correct its extracted text (the edit is logged as a patch)."""
    view = await app_sources.update(
        services,
        chapter.id,
        source,
        actor=user.id,
        tags=body.tags,
        text=body.text,
        base_rev=body.rev,
    )
    return source_public(view)


@router.delete(
    "/chapters/{chapter}/sources/{source}",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_source(
    services: ServicesDep, user: CurrentUser, chapter: WritableChapter, source: _SourceId
) -> None:
    """Take a source out of the chapter and out of search (its history stays in the log)."""
    await app_sources.remove(services, chapter.id, source, actor=user.id)


@router.post("/chapters/{chapter}/sources/{source}/erase", responses=error_responses(403, 404))
async def erase_source(
    services: ServicesDep, user: CurrentUser, chapter: ReadableChapter, source: _SourceId
) -> SourceErased:
    """Erase a source (the book's owner or an admin): its bytes, texts, name and address leave
    the blob store (unless another chapter still names them), its chunks leave the indexes, and
    a ContentErased event records it. The chain is unchanged and still verifies."""
    done = await app_erasure.erase_source(services, user.id, chapter.id, source)
    return SourceErased(rev=done.revs.get(chapter.id), blobs_deleted=len(done.blobs))


@router.post("/chapters/{chapter}/search")
async def search_chapter(
    body: SearchRequest, services: ServicesDep, chapter: ReadableChapter
) -> SearchResults:
    """The `k` passages of the chapter best matching `query` (by the book's search mode: vector,
    lexical or hybrid), optionally only from tagged sources."""
    book = await services.books.book_of(chapter.id)
    how = await services.retrieval.for_book(book)
    rerank = await services.rerankers.for_book(book)
    hits, rev = await app_sources.search(
        services, chapter.id, body.query, k=body.k, tags=body.tags or None, rev=body.rev,
        mode=how.mode, rerank=rerank,
    )  # fmt: skip
    return SearchResults(hits=[HitPublic.model_validate(h) for h in hits], rev=rev)
