"""Chapters over HTTP: read, rename, reassign and delete one chapter.

A chapter the caller may not see answers 404 (gateway/deps.py resolves `{chapter}`); the engine's
rules decide the rest (engine/books.py): renaming is for the assignee and admins, reassigning for
the owner and admins, deleting for the assignee and admins. The commands are app/chapters.py.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from app import chapters as app_chapters
from app import erasure as app_erasure
from app.services import Services
from engine.rules import ChapterEntry
from gateway.deps import CurrentUser, ManagedChapter, ReadableChapter, ServicesDep
from gateway.errors import error_responses
from gateway.schemas_books import ChapterPublic, ChapterUpdate

__all__ = ["chapter_public", "router"]

router = APIRouter(tags=["chapters"], responses=error_responses(401, 403, 404))


async def chapter_public(
    services: Services, entry: ChapterEntry, book: str, *, detail: bool = False
) -> ChapterPublic:
    """The public shape of a chapter; with `detail`, its head revision and source count too."""
    found = await app_chapters.summary(services, entry, book, detail=detail)
    return ChapterPublic.model_validate(found, from_attributes=True)


@router.get("/chapters/{chapter}")
async def read_chapter(services: ServicesDep, chapter: ReadableChapter) -> ChapterPublic:
    """A chapter the caller may see, with its head revision and how many sources it holds."""
    book = await services.books.book_of(chapter.id)
    return await chapter_public(services, chapter, book, detail=True)


@router.patch("/chapters/{chapter}", responses=error_responses(409))
async def update_chapter(
    body: ChapterUpdate, services: ServicesDep, user: CurrentUser, chapter: ManagedChapter
) -> ChapterPublic:
    """Rename a chapter and/or give it to another member of the book (owner and admins)."""
    found = await app_chapters.update(
        services, user.id, chapter, title=body.title, assignee=body.assignee
    )
    return ChapterPublic.model_validate(found, from_attributes=True)


@router.delete(
    "/chapters/{chapter}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(409),
)
async def delete_chapter(services: ServicesDep, user: CurrentUser, chapter: ManagedChapter) -> None:
    """Take a chapter out of its book (its assignee and admins); its log stays for audit."""
    await app_chapters.delete(services, user.id, chapter.id)


@router.post(
    "/chapters/{chapter}/migrate",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def migrate_chapter(
    services: ServicesDep, user: CurrentUser, chapter: ManagedChapter
) -> ChapterPublic:
    """Re-fork a chapter written before sealing into a new chapter of the same book, assigned to
    the same member, whose personal content can be erased (docs/log-format.md, "Erasure"). The
    old chapter stays as it was; delete it once the new one suits you."""
    made = await app_erasure.migrate(services, user.id, chapter.id)
    book = await services.books.book_of(made.id)
    return await chapter_public(services, made, book, detail=True)
