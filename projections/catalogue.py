"""The catalogue: chapters and their sources with status (pending, extracted, rejected, removed)."""

import json

import aiosqlite
import msgspec

import rust_core
from events import (
    ChapterCreated,
    ChapterForked,
    ChapterMirrored,
    ChapterRenamed,
    Envelope,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceMeta,
    SourceRejected,
    SourceRemoved,
    SourceRetagged,
)
from projections.base import SqliteProjection, handles
from projections.fold import (
    SOURCE_CHANGES,
    ChapterView,
    SourceView,
    Status,
    chapter_created,
    chapter_renamed,
    source_added,
)

__all__ = ["Catalogue", "ChapterView", "SourceView", "Status"]

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
_ADDED_COLUMNS = (("connector", "TEXT"), ("ref", "TEXT"), ("meta", "TEXT"))
"""Columns added after the first release: `open` adds them to an older database (they are NULL
in its rows, as they would be from a rebuild: no older event carries them)."""
_meta_codec = msgspec.json.Decoder(SourceMeta)

_COLUMNS = (
    "source, name, media_type, size, status, reason, tags, rev, blob, origin, url, text_blob, "
    "extractor, chunks, code, connector, ref, meta"
)
_SET_COLUMNS = ", ".join(f"{column} = ?" for column in _COLUMNS.split(", ")[1:])
_CHAPTER_COLUMNS = "chapter, book, title, rev, forked_from"
# Upserts as INSERT … ON CONFLICT, which SQLite and PostgreSQL both speak: every column is set,
# as INSERT OR REPLACE did.
_UPSERT_SOURCE = (
    f"INSERT INTO catalogue_sources (chapter, {_COLUMNS}, added_rev) "
    f"VALUES ({', '.join('?' * (len(_COLUMNS.split(', ')) + 2))}) "
    "ON CONFLICT (chapter, source) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in [*_COLUMNS.split(", ")[1:], "added_rev"])
)
_UPSERT_CHAPTER = (
    f"INSERT INTO catalogue_chapters ({_CHAPTER_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (chapter) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CHAPTER_COLUMNS.split(", ")[1:])
)


def _view(row: tuple) -> SourceView:
    (source, name, media_type, size, status, reason, tags, rev, blob, origin, url, text_blob,
     extractor, chunks, code, connector, ref, meta) = row  # fmt: skip
    return SourceView(
        id=source, name=name, media_type=media_type, size=size, status=status, reason=reason,
        tags=json.loads(tags), rev=rev, blob=blob, origin=origin, url=url, text_blob=text_blob,
        extractor=extractor, chunks=chunks, code=code, connector=connector, ref=ref,
        meta=None if meta is None else _meta_codec.decode(meta),
    )  # fmt: skip


def _row(v: SourceView) -> tuple:
    """The view as the columns of `_COLUMNS`, in that order (`_view` reversed)."""
    return (
        v.id, v.name, v.media_type, v.size, v.status, v.reason, json.dumps(v.tags), v.rev,
        v.blob, v.origin, v.url, v.text_blob, v.extractor, v.chunks, v.code, v.connector, v.ref,
        None if v.meta is None else msgspec.json.encode(v.meta).decode(),
    )  # fmt: skip


def _chapter_view(row: tuple) -> ChapterView:
    chapter, book, title, rev, forked_from = row
    return ChapterView(id=chapter, book=book, title=title, rev=rev, forked_from=forked_from)


class Catalogue(SqliteProjection):
    """Folds source lifecycle events into one row per source.

    Each handler applies the chapter fold's rule (`projections.fold`) to the row as it stands in
    the transaction, and writes the result back.
    """

    name = "catalogue"
    version = 1
    schema = _SCHEMA
    tables = ("catalogue_chapters", "catalogue_sources")
    refold_on_erasure = True

    async def open(self) -> None:
        """Create the tables, and add the columns a database made by an older release lacks (in
        SQLite; PostgreSQL's schema is migrated when it opens)."""
        await super().open()
        if self.views.dialect != "sqlite":
            return
        present = {
            row[1] for row in await self.views.fetchall("PRAGMA table_info(catalogue_sources)")
        }
        missing = [(c, t) for c, t in _ADDED_COLUMNS if c not in present]
        if missing:
            await self.views.script(
                "".join(f"ALTER TABLE catalogue_sources ADD COLUMN {c} {t};" for c, t in missing)
            )

    # -- folding ------------------------------------------------------------------------------

    @handles(ChapterCreated, ChapterForked, ChapterMirrored)
    async def on_created(
        self,
        db: aiosqlite.Connection,
        e: Envelope,
        body: ChapterCreated | ChapterForked | ChapterMirrored,
    ) -> None:
        await self._store_chapter(db, chapter_created(e, body))

    @handles(ChapterRenamed)
    async def on_renamed(self, db: aiosqlite.Connection, e: Envelope, body: ChapterRenamed) -> None:
        row = await self.fetchone(
            db, f"SELECT {_CHAPTER_COLUMNS} FROM catalogue_chapters WHERE chapter = ?", e.chapter
        )
        renamed = chapter_renamed(None if row is None else _chapter_view(row), e, body)
        if renamed is not None:
            await self._store_chapter(db, renamed)

    @handles(SourceAdded)
    async def on_added(self, db: aiosqlite.Connection, e: Envelope, body: SourceAdded) -> None:
        # added_rev moves too: a re-added id lists last.
        await self.execute(db, _UPSERT_SOURCE, e.chapter, *_row(source_added(e, body)), e.rev)

    @handles(*SOURCE_CHANGES)
    async def on_changed(
        self,
        db: aiosqlite.Connection,
        e: Envelope,
        body: SourceExtracted | SourceRejected | SourceEdited | SourceRetagged | SourceRemoved,
    ) -> None:
        row = await self.fetchone(
            db,
            f"SELECT {_COLUMNS} FROM catalogue_sources WHERE chapter = ? AND source = ?",
            e.chapter, body.source,
        )  # fmt: skip
        changed = SOURCE_CHANGES[type(body)](None if row is None else _view(row), e, body)
        if changed is not None:
            await self.execute(
                db,
                f"UPDATE catalogue_sources SET {_SET_COLUMNS} WHERE chapter = ? AND source = ?",
                *_row(changed)[1:], e.chapter, body.source,
            )  # fmt: skip

    @staticmethod
    async def _store_chapter(db: aiosqlite.Connection, view: ChapterView) -> None:
        await db.execute(
            _UPSERT_CHAPTER,
            (view.id, view.book, view.title, view.rev, view.forked_from),
        )

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
            f"SELECT {_CHAPTER_COLUMNS} FROM catalogue_chapters WHERE chapter = ?", (chapter,)
        )
        return None if row is None else _chapter_view(row)

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
