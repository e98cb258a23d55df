"""Chapters: what one looks like to its readers, and the commands that rename, reassign and
delete it.

A chapter's title lives in its own log (a rename appends `ChapterRenamed` there), so it is read
from the catalogue, with the title it was registered under in its book as a fallback while the
catalogue catches up. The rules (who may rename, reassign, delete) are the book's
(engine/rules.py), checked by the commands in engine/books.py before they append.
"""

from __future__ import annotations

import msgspec

from app.services import Services
from engine.rules import ChapterEntry

__all__ = ["ChapterSummary", "delete", "summary", "update"]


class ChapterSummary(msgspec.Struct, kw_only=True):
    """A chapter as its readers see it."""

    id: str
    book: str
    title: str
    assignee: str
    """User id of the member it is assigned to."""
    forked_from: str | None = None
    rev: int | None = None
    """Its log's head revision (with `detail`)."""
    sources: int | None = None
    """How many sources it holds, removed ones not counted (with `detail`)."""
    share: str | None = None
    """For a copy or a mirror of a chapter shared with the book: the share."""


async def summary(
    services: Services, entry: ChapterEntry, book: str, *, detail: bool = False
) -> ChapterSummary:
    """The chapter; with `detail`, its head revision and source count too."""
    catalogue = services.read.catalogue
    view = await catalogue.chapter(entry.id)
    found = ChapterSummary(
        id=entry.id,
        book=book,
        title=view.title if view is not None else entry.title,
        assignee=entry.assignee,
        forked_from=view.forked_from if view is not None else None,
        share=entry.share,
    )
    if detail:
        found.rev = (await services.logs.chapter(entry.id).head()).rev
        found.sources = len(await catalogue.sources(entry.id))
    return found


async def update(
    services: Services,
    actor: str,
    entry: ChapterEntry,
    *,
    title: str | None = None,
    assignee: str | None = None,
) -> ChapterSummary:
    """Rename a chapter and/or give it to another member of its book; the chapter after."""
    # Reassign first: it is the stricter rule, so a refused request changes nothing.
    if assignee is not None:
        entry = await services.books.reassign_chapter(actor, entry.id, assignee)
    if title is not None:
        rev = await services.books.rename_chapter(actor, entry.id, title)
        await services.settled(entry.id, rev)
    book = await services.books.book_of(entry.id)
    found = await summary(services, entry, book, detail=True)
    if title is not None:
        found.title = title.strip()  # even if the catalogue has not caught up
    return found


async def delete(services: Services, actor: str, chapter: str) -> None:
    """Take a chapter out of its book; its log stays for audit."""
    await services.books.delete_chapter(actor, chapter)
