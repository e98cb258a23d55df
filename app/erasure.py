"""A person's data: erasing it (`DELETE /v1/me`), exporting it (`GET /v1/me/export`), and an
admin's erasure of one source. The commands are engine/erasure.py's; this module checks who may,
waits for the read models to forget, and gathers an export (docs/log-format.md, "Erasure").
"""

from __future__ import annotations

import msgspec

from app.services import Services
from engine.accounts import User
from engine.copies import migrate_chapter
from engine.erasure import Erased, Erasure, their_chat
from engine.rules import ChapterEntry, Forbidden, NotFound
from events import MessagePosted
from projections.audit import ChapterSnapshot, chapter_at_rev, read_envelopes
from projections.fold import MessageView, message_posted

__all__ = [
    "ERASURE_SETTLE_S",
    "PersonExport",
    "erase_person",
    "erase_source",
    "export_person",
    "migrate",
]

ERASURE_SETTLE_S = 30.0
"""How long an erasure waits for the read models to re-fold an erased chapter."""
_FORGETTERS = ("eraser", "catalogue", "chat", "vectors")
"""The read models that must have seen an erasure before it is reported done."""


def _erasure(services: Services) -> Erasure:
    return Erasure(services.logs, services.books, services.blobs, services.accounts)


async def _settle(services: Services, chapter: str, rev: int) -> bool:
    return await services.read.settle(chapter, rev, _FORGETTERS, within=ERASURE_SETTLE_S)


async def erase_person(services: Services, user: User) -> Erased:
    """Erase the caller and everything that is theirs; `Conflict` (409) names a book they own
    alone with other members. Re-runnable after a failure part-way."""
    done = await _erasure(services).erase_person(
        user.id, settle=lambda chapter, rev: _settle(services, chapter, rev)
    )
    for chapter, rev in done.revs.items():
        if rev is not None:
            await _settle(services, chapter, rev)
    await services.read.views.truncate_wal()
    return done


async def erase_source(services: Services, actor: str, chapter: str, source: str) -> Erased:
    """Erase one source (the book's owner or an admin only)."""
    # A source of another chapter is not found here, whoever asks (not forbidden).
    await services.settled(chapter)
    if await services.read.catalogue.source(chapter, source) is None:
        raise NotFound(f"chapter {chapter} has no source {source}")
    book = await services.books.book_of(chapter)
    state = await services.books.state(book)
    if not state.is_admin(actor):
        raise Forbidden("only the book's owner and admins may erase a source")
    done = await _erasure(services).erase_source(actor, chapter, source)
    rev = done.revs.get(chapter)
    if rev is not None:
        await _settle(services, chapter, rev)
    await services.read.views.truncate_wal()
    return done


async def migrate(services: Services, actor: str, chapter: str) -> ChapterEntry:
    """Re-fork `chapter` into the sealed format (engine/copies.py `migrate_chapter`); the new
    chapter, once the catalogue shows it."""
    made = await migrate_chapter(
        services.books, services.logs, services.blobs, actor=actor, chapter=chapter
    )
    await services.settled(made)
    state = await services.books.state(await services.books.book_of(made))
    return state.chapters[made]


class ExportedBook(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: str


class ExportedMessage(msgspec.Struct, kw_only=True):
    chapter: str
    message: MessageView


class PersonExport(msgspec.Struct, kw_only=True):
    """All of a person's data, as `GET /v1/me/export` returns it."""

    user: dict[str, object]
    """The profile: id, e-mail, name, when created."""
    books: list[ExportedBook]
    chapters: list[ChapterSnapshot]
    """The chapters assigned to them, as they stand (sources, threads, messages, shares)."""
    messages: list[ExportedMessage]
    """Their messages, and the answers in their threads, in chapters not assigned to them."""


async def export_person(services: Services, user: User) -> PersonExport:
    """Everything that is the caller's (their profile, books, chapters, messages)."""
    books = await services.books.books_of(user.id)
    mine: list[str] = []
    exported_books = []
    for state in books:
        exported_books.append(
            ExportedBook(id=state.id, name=state.name, role=state.role_of(user.id) or "")
        )
        mine.extend(state.chapters_of(user.id))
    chapters = []
    for chapter in mine:
        log = services.logs.chapter(chapter)
        chapters.append(await chapter_at_rev(log, (await log.head()).rev))
    messages = []
    for state in books:
        for chapter in state.chapters:
            if chapter in mine:
                continue
            events = [e async for _, e in read_envelopes(services.logs.chapter(chapter))]
            # What a person's erasure would erase there (engine/erasure.py `their_chat`).
            theirs = their_chat(user.id, [e.body for e in events], [e.actor for e in events])
            for e, is_theirs in zip(events, theirs, strict=True):
                if is_theirs and isinstance(e.body, MessagePosted):
                    # The chat view's own rule for a message (the thread it returns is unused).
                    _, view = message_posted(None, e, e.body, seen=False)
                    if view is not None:  # None only for a message id `seen` before
                        messages.append(ExportedMessage(chapter=chapter, message=view))
    profile = msgspec.to_builtins(user)
    return PersonExport(user=profile, books=exported_books, chapters=chapters, messages=messages)
