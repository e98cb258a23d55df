"""Chapters over HTTP: read, rename, reassign and delete one chapter.

A chapter the caller may not see answers 404 (gateway/deps.py resolves `{chapter}`); the engine's
rules decide the rest (engine/books.py): renaming is for the assignee and admins, reassigning for
the owner and admins, deleting for the assignee and admins. A chapter's title lives in its own log
(renames append `ChapterRenamed` there), so it is read from the catalogue projection, with the
title it was registered under as a fallback while the catalogue catches up.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, status

from engine.rules import ChapterEntry
from gateway.deps import CurrentUser, ManagedChapter, ReadableChapter, ServicesDep
from gateway.errors import error_responses
from gateway.schemas_books import ChapterPublic, ChapterUpdate
from gateway.services import Services

__all__ = ["chapter_public", "router"]

READ_YOUR_WRITES_S = 10.0
"""How long a rename waits for the catalogue to show it before answering anyway."""

router = APIRouter(tags=["chapters"], responses=error_responses(401, 403, 404))


async def chapter_public(
    services: Services, entry: ChapterEntry, book: str, *, detail: bool = False
) -> ChapterPublic:
    """The public shape of a chapter; with `detail`, its head revision and source count too."""
    catalogue = services.worker.catalogue
    view = await catalogue.chapter(entry.id)
    public = ChapterPublic(
        id=entry.id,
        book=book,
        title=view.title if view is not None else entry.title,
        assignee=entry.assignee,
        forked_from=view.forked_from if view is not None else None,
    )
    if detail:
        public.rev = (await services.logs.chapter(entry.id).head()).rev
        public.sources = len(await catalogue.sources(entry.id))
    return public


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
    entry = chapter
    # Reassign first: it is the stricter rule, so a refused request changes nothing.
    if body.assignee is not None:
        entry = await services.books.reassign_chapter(user.id, chapter.id, body.assignee)
    if body.title is not None:
        await services.books.rename_chapter(user.id, chapter.id, body.title)
        await _catalogue_caught_up(services, chapter.id)
    book = await services.books.book_of(chapter.id)
    public = await chapter_public(services, entry, book, detail=True)
    if body.title is not None:
        public.title = body.title.strip()  # even if the catalogue has not caught up
    return public


@router.delete(
    "/chapters/{chapter}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(409),
)
async def delete_chapter(services: ServicesDep, user: CurrentUser, chapter: ManagedChapter) -> None:
    """Take a chapter out of its book (its assignee and admins); its log stays for audit."""
    await services.books.delete_chapter(user.id, chapter.id)


async def _catalogue_caught_up(services: Services, chapter: str) -> None:
    # Read-your-writes for the title; a gateway whose projections run elsewhere may wait in
    # vain, so the wait is bounded and the answer goes out regardless.
    rev = (await services.logs.chapter(chapter).head()).rev
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            services.worker.runner.wait(chapter, rev, projections=["catalogue"]),
            READ_YOUR_WRITES_S,
        )
