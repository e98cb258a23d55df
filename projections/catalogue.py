"""The catalogue: chapters and their sources with status (pending, extracted, rejected, removed)."""

import json
from typing import Literal

import aiosqlite
import msgspec

import rust_core
from events import (
    ChapterCreated,
    ChapterForked,
    ChapterRenamed,
    Envelope,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
)
from projections.base import SqliteProjection, handles

Status = Literal["pending", "extracted", "rejected", "removed"]


class SourceView(msgspec.Struct, frozen=True, kw_only=True):
    """A source as people and scripts see it (the public shape of DESIGN.md, plus details)."""

    id: str
    name: str
    media_type: str
    size: int
    status: Status
    reason: str | None
    tags: list[str]
    rev: int
    """Rev of the source's latest change."""
    blob: str
    origin: str
    url: str | None = None
    text_blob: str | None = None
    extractor: str | None = None
    chunks: int = 0
    code: str | None = None
    """Rejection code, when rejected."""


class ChapterView(msgspec.Struct, frozen=True, kw_only=True):
    """A chapter's identity as the catalogue knows it."""

    id: str
    book: str
    title: str
    rev: int
    forked_from: str | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalogue_chapters (
    chapter TEXT PRIMARY KEY, book TEXT NOT NULL, title TEXT NOT NULL, rev INTEGER NOT NULL,
    forked_from TEXT
);
CREATE TABLE IF NOT EXISTS catalogue_sources (
    chapter TEXT NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL,
    size INTEGER NOT NULL, blob TEXT NOT NULL, origin TEXT NOT NULL, url TEXT,
    status TEXT NOT NULL, code TEXT, reason TEXT, tags TEXT NOT NULL, rev INTEGER NOT NULL,
    added_rev INTEGER NOT NULL, text_blob TEXT, extractor TEXT, chunks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chapter, source)
);
"""

_COLUMNS = (
    "source, name, media_type, size, status, reason, tags, rev, blob, origin, url, text_blob, "
    "extractor, chunks, code"
)


def _view(row: tuple) -> SourceView:
    (source, name, media_type, size, status, reason, tags, rev, blob, origin, url, text_blob,
     extractor, chunks, code) = row  # fmt: skip
    return SourceView(
        id=source, name=name, media_type=media_type, size=size, status=status, reason=reason,
        tags=json.loads(tags), rev=rev, blob=blob, origin=origin, url=url, text_blob=text_blob,
        extractor=extractor, chunks=chunks, code=code,
    )  # fmt: skip


class Catalogue(SqliteProjection):
    """Folds source lifecycle events into one row per source."""

    name = "catalogue"
    version = 1
    schema = _SCHEMA
    tables = ("catalogue_chapters", "catalogue_sources")

    # -- folding ------------------------------------------------------------------------------

    @handles(ChapterCreated, ChapterForked)
    async def on_created(self, db: aiosqlite.Connection, e: Envelope) -> None:
        body = e.body
        assert isinstance(body, ChapterCreated | ChapterForked)
        forked = body.from_chapter if isinstance(body, ChapterForked) else None
        await self.execute(
            db,
            "INSERT OR REPLACE INTO catalogue_chapters VALUES (?, ?, ?, ?, ?)",
            e.chapter, body.book, body.title, e.rev, forked,
        )  # fmt: skip

    @handles(ChapterRenamed)
    async def on_renamed(self, db: aiosqlite.Connection, e: Envelope) -> None:
        assert isinstance(e.body, ChapterRenamed)
        await self.execute(
            db,
            "UPDATE catalogue_chapters SET title = ?, rev = ? WHERE chapter = ?",
            e.body.title, e.rev, e.chapter,
        )  # fmt: skip

    @handles(SourceAdded)
    async def on_added(self, db: aiosqlite.Connection, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceAdded)
        await self.execute(
            db,
            "INSERT OR REPLACE INTO catalogue_sources (chapter, source, name, media_type, size, "
            "blob, origin, url, status, tags, rev, added_rev) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            e.chapter, b.source, b.name, b.media_type, b.size, b.blob, b.origin, b.url,
            json.dumps(sorted(set(b.tags))), e.rev, e.rev,
        )  # fmt: skip

    @handles(SourceExtracted)
    async def on_extracted(self, db: aiosqlite.Connection, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceExtracted)
        await self.execute(
            db,
            "UPDATE catalogue_sources SET status = 'extracted', code = NULL, reason = NULL, "
            "text_blob = ?, extractor = ?, chunks = ?, rev = ?, "
            "media_type = CASE WHEN ? != '' THEN ? ELSE media_type END "
            "WHERE chapter = ? AND source = ? AND status != 'removed'",
            b.text_blob, f"{b.extractor} {b.extractor_version}", b.chunk_total, e.rev,
            b.media_type, b.media_type, e.chapter, b.source,
        )  # fmt: skip

    @handles(SourceRejected)
    async def on_rejected(self, db: aiosqlite.Connection, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceRejected)
        await self.execute(
            db,
            "UPDATE catalogue_sources SET status = 'rejected', code = ?, reason = ?, rev = ? "
            "WHERE chapter = ? AND source = ? AND status != 'removed'",
            b.code, b.message, e.rev, e.chapter, b.source,
        )  # fmt: skip

    @handles(SourceEdited)
    async def on_edited(self, db: aiosqlite.Connection, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceEdited)
        await self.execute(
            db,
            "UPDATE catalogue_sources SET status = 'pending', rev = ? "
            "WHERE chapter = ? AND source = ? AND status != 'removed'",
            e.rev, e.chapter, b.source,
        )  # fmt: skip

    @handles(SourceRetagged)
    async def on_retagged(self, db: aiosqlite.Connection, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceRetagged)
        await self.execute(
            db,
            "UPDATE catalogue_sources SET tags = ?, rev = ? WHERE chapter = ? AND source = ?",
            json.dumps(sorted(set(b.tags))), e.rev, e.chapter, b.source,
        )  # fmt: skip

    @handles(SourceRemoved)
    async def on_removed(self, db: aiosqlite.Connection, e: Envelope) -> None:
        b = e.body
        assert isinstance(b, SourceRemoved)
        await self.execute(
            db,
            "UPDATE catalogue_sources SET status = 'removed', rev = ? "
            "WHERE chapter = ? AND source = ?",
            e.rev, e.chapter, b.source,
        )  # fmt: skip

    # -- reading ------------------------------------------------------------------------------

    async def sources(
        self, chapter: str, *, include_removed: bool = False, tags: list[str] | None = None
    ) -> list[SourceView]:
        """The chapter's sources in the order they were added."""
        rows = await self.views.fetchall(
            f"SELECT {_COLUMNS} FROM catalogue_sources WHERE chapter = ? "
            + ("" if include_removed else "AND status != 'removed' ")
            + "ORDER BY added_rev",
            (chapter,),
        )
        found = [_view(row) for row in rows]
        if tags:
            wanted = set(tags)
            found = [s for s in found if wanted & set(s.tags)]
        return found

    async def source(self, chapter: str, source: str) -> SourceView | None:
        """One source, removed ones included, or None."""
        row = await self.views.fetchone(
            f"SELECT {_COLUMNS} FROM catalogue_sources WHERE chapter = ? AND source = ?",
            (chapter, source),
        )
        return _view(row) if row else None

    async def chapter(self, chapter: str) -> ChapterView | None:
        """The chapter's identity, or None if its creation has not been folded yet."""
        row = await self.views.fetchone(
            "SELECT chapter, book, title, rev, forked_from FROM catalogue_chapters "
            "WHERE chapter = ?",
            (chapter,),
        )
        if row is None:
            return None
        return ChapterView(id=row[0], book=row[1], title=row[2], rev=row[3], forked_from=row[4])

    async def digest(self, chapter: str) -> str:
        """A hash of the chapter's whole read model, to compare a rebuild with a live build."""
        rows = await self.views.fetchall(
            f"SELECT {_COLUMNS} FROM catalogue_sources WHERE chapter = ? ORDER BY source",
            (chapter,),
        )
        chapter_row = await self.views.fetchall(
            "SELECT * FROM catalogue_chapters WHERE chapter = ?", (chapter,)
        )
        data = msgspec.msgpack.encode([list(r) for r in chapter_row + rows])
        return rust_core.hash(data).hex()
