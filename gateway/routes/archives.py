"""Chapter archives over HTTP: export a chapter as a verifiable tar, import one as a new chapter.

    GET  /v1/chapters/{chapter}/export     whoever may read the chapter: the tar, streamed
    POST /v1/books/{book}/imports          a member: the tar as the body (?title=…); 201 chapter

The layout and how to verify an archive are docs/log-format.md's ("Archives"); engine/archive.py
exports and imports. An import is spooled to disk as it arrives (never held whole in memory),
refused past `IMPORT_LIMIT_BYTES`, verified whole, and only then written: a bad archive is a 422
`archive_rejected` naming the first bad rev, with nothing imported.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import IO

from fastapi import APIRouter, Request, status
from fastapi.responses import StreamingResponse

from engine.archive import export_chapter, import_archive
from events.archive import ARCHIVE_MEDIA_TYPE
from gateway.deps import CurrentUser, ReadableChapter, ServicesDep
from gateway.errors import PayloadTooLarge, error_responses
from gateway.routes.books import MemberBook
from gateway.routes.chapters import chapter_public
from gateway.routes.heads import BookKeysDep
from gateway.schemas_books import ChapterPublic

__all__ = ["IMPORT_LIMIT_BYTES", "router"]

IMPORT_LIMIT_BYTES = 4 * 2**30
"""The largest archive an import accepts (an archive carries every blob of its chapter)."""

router = APIRouter(tags=["archives"], responses=error_responses(401, 403, 404))


@router.get(
    "/chapters/{chapter}/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {ARCHIVE_MEDIA_TYPE: {}}, "description": "The chapter's archive."},
        **error_responses(409),
    },
)
async def read_chapter_export(
    services: ServicesDep, chapter: ReadableChapter, keys: BookKeysDep
) -> StreamingResponse:
    """The chapter at its head as a verifiable archive (a tar): manifest, events as stored,
    the book's keys, every blob the events name."""
    export = await export_chapter(keys, services.blobs, chapter.id)
    return StreamingResponse(
        export.chunks(),
        media_type=ARCHIVE_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


async def _spool(request: Request, out: IO[bytes]) -> None:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > IMPORT_LIMIT_BYTES:
            raise PayloadTooLarge(
                f"the archive is larger than the limit of {IMPORT_LIMIT_BYTES:,} bytes; "
                "nothing was imported"
            )
        await asyncio.to_thread(out.write, chunk)
    await asyncio.to_thread(out.flush)


@router.post(
    "/books/{book}/imports",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            # The tar's raw bytes; any Content-Type is taken (OpenAPI tools know octet-stream).
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses=error_responses(413, 422),
)
async def create_import(
    request: Request,
    services: ServicesDep,
    user: CurrentUser,
    book: MemberBook,
    keys: BookKeysDep,
    title: str | None = None,
) -> ChapterPublic:
    """Import an archive (the body) as a new chapter of the book: verified whole first, then
    forked from the archive's head with its sources and threads re-issued."""
    with tempfile.TemporaryDirectory(prefix="ragstack-import-") as folder:
        path = Path(folder) / "archive.tar"
        with path.open("wb") as out:
            await _spool(request, out)
        chapter = await import_archive(
            keys, services.blobs, actor=user.id, book=book.id, path=path, title=title
        )
    state = await services.books.state(book.id, fresh=True)
    return await chapter_public(services, state.chapters[chapter], book.id, detail=True)
