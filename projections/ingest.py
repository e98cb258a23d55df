"""Ingest: turns added or edited sources into `SourceExtracted` or `SourceRejected` facts.

Folding only records what is pending (a source added or edited with no result yet); the work is
done in `idle`, once the chapter's history has been folded, so a rebuild or a restart redoes
exactly the unfinished work and never appends a fact twice. A result clears the pending entry it
answers: a stale extraction (of the text before an edit) leaves the edit pending.

An edit is re-chunked with the page and heading sections of the text it was made on, carried
through the edit (`carry_sections`): chunks never cross a section boundary, so without them an
edit of a paged document would move one chunk per page and lose its citations' pages.
"""

import asyncio
import bisect
import difflib
import itertools
import logging
import os
from collections.abc import Sequence
from typing import Protocol

import aiosqlite
import msgspec

import rust_core
from engine.blobs import BlobStore
from engine.errors import BlobNotFound, EngineError
from engine.jetstream.idempotency import idempotent
from events import (
    ChapterMirrored,
    ChunkRef,
    Envelope,
    Event,
    SourceAdded,
    SourceEdited,
    SourceExtracted,
    SourceRejected,
    SourceRemoved,
    SourceRevised,
)
from projections.base import SqliteProjection, handles
from projections.formats import Limits, Rejected, Section, extract, location_at
from projections.store import Views

log = logging.getLogger(__name__)

ACTOR = "proc:ingest"
INLINE_MANIFEST_BYTES = 64 * 1024
"""A manifest larger than this goes to the blob store so events stay far below max_payload."""


class Appender(Protocol):
    """Appends one event to a chapter's log (the engine's writer, as ingest needs it)."""

    async def __call__(self, chapter: str, body: Event, *, actor: str) -> int:
        """Append `body`, returning its rev."""
        ...


class ChunkSizes(msgspec.Struct, frozen=True, kw_only=True):
    """Chunk sizes in characters (about four characters a token)."""

    target: int = 800
    min_size: int = 200
    max_size: int = 1600


class _Pending(msgspec.Struct, frozen=True):
    source: str
    rev: int
    kind: str
    blob: str
    name: str
    media_type: str
    new_text: str | None
    """For an edit: the new text's blob (and `blob` holds the base text's)."""
    known_text: str | None = None
    """The text blob of the source's last extraction, if any."""
    known_chunks: bytes | None = None
    """That extraction's inline manifest (msgpack), when it had one."""
    known_chunks_blob: str | None = None
    """That extraction's manifest blob, when it was too large to inline."""


_manifest_decoder = msgspec.msgpack.Decoder(list[ChunkRef])


def chunk_manifest(text: str, sections: Sequence[Section], sizes: ChunkSizes) -> list[ChunkRef]:
    """Cut `text` into content-defined chunks, each with its hash, span, page and heading.

    A chunk never crosses a section boundary (a page or a heading), so a citation names the one
    page and heading its passage sits under.
    """
    starts = sorted({0, *(s.start for s in sections if 0 < s.start < len(text))})
    bounds = [*starts, len(text)]
    chunks = []
    for lo, hi in itertools.pairwise(bounds):
        spans = rust_core.chunk_text(
            text[lo:hi], target=sizes.target, min_size=sizes.min_size, max_size=sizes.max_size
        )
        page, heading = location_at(list(sections), lo)
        for start, end in spans:
            piece = text[lo + start : lo + end]
            if not piece.strip():
                continue
            chunks.append(
                ChunkRef(
                    hash=rust_core.hash(piece.encode()).hex(),
                    start=lo + start,
                    end=lo + end,
                    page=page,
                    heading=heading,
                )
            )
    return chunks


def sections_of(manifest: Sequence[ChunkRef]) -> list[Section]:
    """The page/heading sections an extraction was chunked with, as its manifest records them.

    Chunks never cross a section, so each change of (page, heading) between consecutive chunks
    is a section start.
    """
    sections: list[Section] = []
    where: tuple[int | None, str | None] = (None, None)
    for chunk in sorted(manifest, key=lambda c: c.start):
        if (chunk.page, chunk.heading) != where:
            where = (chunk.page, chunk.heading)
            sections.append(Section(start=chunk.start, page=chunk.page, heading=chunk.heading))
    return sections


def _common_prefix(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # binary search, comparing only the part not yet known equal
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid : len(a) - lo] == b[len(b) - mid : len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _LineMap:
    """Maps offsets of `old` to `new` through a line diff (for the changed middle of an edit)."""

    def __init__(self, old: str, new: str) -> None:
        old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
        self.old_starts = [0, *itertools.accumulate(len(line) for line in old_lines)]
        self.new_starts = [0, *itertools.accumulate(len(line) for line in new_lines)]
        self.ops = difflib.SequenceMatcher(None, old_lines, new_lines).get_opcodes()

    def map(self, offset: int) -> int:
        line = bisect.bisect_right(self.old_starts, offset) - 1
        index = bisect.bisect_right(self.ops, line, key=lambda op: op[1]) - 1
        tag, i1, _, j1, _ = self.ops[max(index, 0)]
        if tag == "equal":
            return self.new_starts[j1 + line - i1] + offset - self.old_starts[line]
        return self.new_starts[j1]  # inside changed lines: where their replacement begins


def carry_sections(old: str, new: str, sections: Sequence[Section]) -> list[Section]:
    """`sections` of `old`, moved to where the same places are in `new` (an edit of `old`).

    Text before and after the changed stretch keeps its sections exactly; a section starting
    inside it moves to the matching line (or the start of its replacement). Pages and headings
    keep their values: an edit neither re-paginates nor renames headings.
    """
    if not sections:
        return []
    prefix = _common_prefix(old, new)
    suffix = _common_suffix(old, new, min(len(old), len(new)) - prefix)
    old_end, new_end = len(old) - suffix, len(new) - suffix
    middle: _LineMap | None = None
    moved: dict[int, Section] = {}
    for section in sorted(sections, key=lambda s: s.start):
        if section.start <= prefix:
            start = section.start
        elif section.start >= old_end:
            start = section.start - old_end + new_end
        else:
            middle = middle or _LineMap(old[prefix:old_end], new[prefix:new_end])
            start = prefix + middle.map(section.start - prefix)
        # Sections that land on one offset: the last one is in force there, as in location_at.
        moved[start] = msgspec.structs.replace(section, start=start)
    return sorted(moved.values(), key=lambda s: s.start)


async def load_manifest(blobs: BlobStore, body: SourceExtracted) -> list[ChunkRef]:
    """The chunk manifest of an extraction, inline or from the blob store."""
    if body.chunks_blob is None:
        return list(body.chunks)
    return _manifest_decoder.decode(await blobs.get(body.chunks_blob))


_PENDING_CONFLICT = (
    " ON CONFLICT (chapter, source) DO UPDATE SET rev = excluded.rev, kind = excluded.kind, "
    "blob = excluded.blob, name = excluded.name, media_type = excluded.media_type, "
    "new_text = excluded.new_text"
)
"""Upserts as INSERT … ON CONFLICT (SQLite and PostgreSQL both speak it): every column is set,
as INSERT OR REPLACE did."""


class Ingest(SqliteProjection):
    """Extracts and chunks sources, writing the results back to the log."""

    name = "ingest"
    version = 2
    """2: remembers each source's last extraction (ingest_texts), so edits keep their sections."""
    schema = """
    CREATE TABLE IF NOT EXISTS ingest_pending (
        chapter TEXT NOT NULL, source TEXT NOT NULL, rev INTEGER NOT NULL, kind TEXT NOT NULL,
        blob TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL, new_text TEXT,
        PRIMARY KEY (chapter, source)
    );
    CREATE TABLE IF NOT EXISTS ingest_mirrors (chapter TEXT PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS ingest_texts (
        chapter TEXT NOT NULL, source TEXT NOT NULL, text_blob TEXT NOT NULL, chunks BLOB,
        chunks_blob TEXT, PRIMARY KEY (chapter, source)
    );
    """
    tables = ("ingest_pending", "ingest_texts", "ingest_mirrors")

    def __init__(
        self,
        views: Views,
        blobs: BlobStore,
        append: Appender,
        *,
        limits: Limits | None = None,
        sizes: ChunkSizes | None = None,
        workers: int | None = None,
    ) -> None:
        super().__init__(views)
        self._blobs = blobs
        self._append = append
        self._limits = limits or Limits()
        self._sizes = sizes or ChunkSizes()
        self._slots = asyncio.Semaphore(workers or os.cpu_count() or 2)

    # -- folding: what is pending ------------------------------------------------------------

    @handles(ChapterMirrored)
    async def on_mirrored(self, db: aiosqlite.Connection, e: Envelope, b: ChapterMirrored) -> None:
        # A live mirror's extractions come from the owner's log: nothing here is ingest's work.
        await self.execute(
            db, "INSERT INTO ingest_mirrors VALUES (?) ON CONFLICT DO NOTHING", e.chapter
        )

    async def _mirror(self, db: aiosqlite.Connection, chapter: str) -> bool:
        return (
            await self.fetchone(db, "SELECT 1 FROM ingest_mirrors WHERE chapter = ?", chapter)
            is not None
        )

    @handles(SourceAdded, SourceRevised)
    async def on_added(
        self, db: aiosqlite.Connection, e: Envelope, b: SourceAdded | SourceRevised
    ) -> None:
        # New bytes for a source (SourceRevised) are extracted like a new one.
        if await self._mirror(db, e.chapter):
            return
        await self.execute(
            db,
            "INSERT INTO ingest_pending VALUES (?, ?, ?, 'added', ?, ?, ?, NULL)"
            + _PENDING_CONFLICT,
            e.chapter, b.source, e.rev, b.blob, b.name, b.media_type,
        )  # fmt: skip

    @handles(SourceEdited)
    async def on_edited(self, db: aiosqlite.Connection, e: Envelope, b: SourceEdited) -> None:
        if await self._mirror(db, e.chapter):
            return
        await self.execute(
            db,
            "INSERT INTO ingest_pending VALUES (?, ?, ?, 'edited', ?, '', '', ?)"
            + _PENDING_CONFLICT,
            e.chapter, b.source, e.rev, b.base_text, b.new_text,
        )  # fmt: skip

    @handles(SourceExtracted)
    async def on_extracted(self, db: aiosqlite.Connection, e: Envelope, b: SourceExtracted) -> None:
        # An extraction of the text before an edit does not answer the edit.
        await self.execute(
            db,
            "DELETE FROM ingest_pending WHERE chapter = ? AND source = ? "
            "AND (kind = 'added' OR new_text = ?)",
            e.chapter, b.source, b.text_blob,
        )  # fmt: skip
        inline = msgspec.msgpack.encode(b.chunks) if b.chunks_blob is None else None
        await self.execute(
            db,
            "INSERT INTO ingest_texts VALUES (?, ?, ?, ?, ?) ON CONFLICT (chapter, source) DO "
            "UPDATE SET text_blob = excluded.text_blob, chunks = excluded.chunks, "
            "chunks_blob = excluded.chunks_blob",
            e.chapter, b.source, b.text_blob, inline, b.chunks_blob,
        )  # fmt: skip

    @handles(SourceRejected, SourceRemoved)
    async def on_settled(
        self, db: aiosqlite.Connection, e: Envelope, b: SourceRejected | SourceRemoved
    ) -> None:
        await self.execute(
            db, "DELETE FROM ingest_pending WHERE chapter = ? AND source = ?", e.chapter, b.source
        )
        if isinstance(b, SourceRemoved):
            await self.execute(
                db, "DELETE FROM ingest_texts WHERE chapter = ? AND source = ?", e.chapter, b.source
            )

    # -- the work ------------------------------------------------------------------------------

    async def pending(self, chapter: str) -> list[str]:
        """Sources of `chapter` still waiting for a result."""
        rows = await self.views.fetchall(
            "SELECT source FROM ingest_pending WHERE chapter = ? ORDER BY rev", (chapter,)
        )
        return [row[0] for row in rows]

    async def idle(self, chapter: str) -> None:
        """Process every pending source of `chapter`, appending one result each."""
        rows = await self.views.fetchall(
            "SELECT p.source, p.rev, p.kind, p.blob, p.name, p.media_type, p.new_text, "
            "t.text_blob, t.chunks, t.chunks_blob FROM ingest_pending p "
            "LEFT JOIN ingest_texts t ON t.chapter = p.chapter AND t.source = p.source "
            "WHERE p.chapter = ? ORDER BY p.rev",
            (chapter,),
        )

        async def settle(item: _Pending) -> None:
            async with self._slots:
                result = await self._process(item)
            # One result per pending rev, whoever appends it: a worker that lost the chapter's
            # lease mid-extraction and the new holder extracting the same source publish under
            # one message id, which JetStream stores once (within its duplicate window).
            with idempotent(f"ingest.{item.rev}"):
                await self._append(chapter, result, actor=ACTOR)

        async with asyncio.TaskGroup() as group:
            for row in rows:
                group.create_task(settle(_Pending(*row)))

    async def _process(self, item: _Pending) -> SourceExtracted | SourceRejected:
        try:
            if item.kind == "edited":
                assert item.new_text is not None
                text = (await self._blobs.get(item.new_text)).decode()
                sections = await self._carried_sections(item, text)
                return await self._extracted(item.source, text, sections, "edit", "1", "text/plain")
            data = await self._blobs.get(item.blob)
            extracted = await asyncio.to_thread(
                extract, data, name=item.name, declared_type=item.media_type, limits=self._limits
            )
        except Rejected as rejected:
            return SourceRejected(source=item.source, code=rejected.code, message=rejected.message)
        except BlobNotFound:
            return SourceRejected(
                source=item.source,
                code="missing",
                message="the file's bytes are missing from the blob store; upload it again",
            )
        except EngineError as exc:
            # The blob store failing is not the source's fault: retry on the next idle.
            log.warning("ingest of %s postponed: %s", item.source, exc)
            raise
        return await self._extracted(
            item.source,
            extracted.text,
            extracted.sections,
            extracted.extractor,
            extracted.version,
            extracted.media_type,
        )

    async def _carried_sections(self, item: _Pending, text: str) -> list[Section]:
        """The sections of the text the edit was made on, moved through the edit to `text`."""
        if not item.blob or item.blob != item.known_text:
            return []  # the base is not the extraction we know (or predates version 2)
        if item.known_chunks_blob is not None:
            manifest = _manifest_decoder.decode(await self._blobs.get(item.known_chunks_blob))
        else:
            manifest = _manifest_decoder.decode(item.known_chunks or b"\x90")
        sections = sections_of(manifest)
        if not sections:
            return []
        base = (await self._blobs.get(item.blob)).decode()
        return await asyncio.to_thread(carry_sections, base, text, sections)

    async def _extracted(
        self,
        source: str,
        text: str,
        sections: Sequence[Section],
        extractor: str,
        version: str,
        media_type: str,
    ) -> SourceExtracted:
        text_blob = await self._blobs.put(text.encode())
        chunks = await asyncio.to_thread(chunk_manifest, text, sections, self._sizes)
        encoded = msgspec.msgpack.encode(chunks)
        inline = len(encoded) <= INLINE_MANIFEST_BYTES
        return SourceExtracted(
            source=source,
            text_blob=text_blob,
            extractor=extractor,
            extractor_version=version,
            media_type=media_type,
            chunks=chunks if inline else [],
            chunks_blob=None if inline else await self._blobs.put(encoded),
            chunk_count=len(chunks),
        )
