"""Vectors: embeds each source's chunks and keeps the chapter's vector index, and searches it.

The index cannot join a SQLite transaction, so a batch first computes its index operations in
log order, performs them as idempotent upserts and deletes keyed by `<source>:<chunk hash>`, and
only then commits the per-source state with the checkpoint. A crash between the two replays the
batch, which changes nothing. Chunks an edit did not touch keep their records, those it moved are
re-written with their new span (their vectors from the cache); only new chunks are embedded (and
the cache makes even a replay free).

**Search as of a rev.** Every record carries `added_rev`, the rev of the `SourceExtracted` that
made it searchable (a chunk an edit moved counts as added again, since its span changed). A chunk
that leaves (its source removed or re-added, an edit that dropped or moved it) is not forgotten:
its record moves to the chapter's *history namespace* (`history_namespace`, `<chapter>_history`)
with `removed_rev` set and the id `<source>:<chunk hash>:<added_rev>` (one per stretch of life).
So the chapter as of rev N is the live records with `added_rev <= N` plus the retired ones with
`added_rev <= N < removed_rev`, and nothing is re-embedded to see it (`retrieve_at`). Why a second
namespace rather than a `removed_rev` flag on the one: a search of the chapter *now* stays the
plain, unfiltered query it always was (filtered queries are several times slower in Chroma), and
the live namespace keeps exactly the records it had before, so nothing that counts or lists it
changes. The history grows with every removal and edit; it goes when the chapter's index is
dropped. Tags are not read from retired records: an as-of search filters by the sources the
caller found carrying the tags at that rev (the audit fold knows them).

**The lexical index** (`projections/lexical.py`, SQLite FTS5 per chapter, or
`projections/lexical_postgres.py` where the views are in PostgreSQL) holds the live chunks too,
written from the same batch's operations inside the transaction that commits the per-source
state and checkpoint. It keeps no history: a search as of a rev is vector-only. Chapters folded
before it existed get theirs built from the per-source state when they go idle (`idle`), no
re-embedding, with progress in `lexical_progress`. `forget` is the one path that removes chunks
from both indexes at once (a removed source, an erasure).

It is one module (about 650 lines): the fold, the batch's index operations and the searches
(now and as of a rev) share the per-source state and the history namespace's rules.
"""

import json
import logging
import math
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import aiosqlite
import msgspec

import rust_core
from engine.blobs import BlobStore
from events import (
    ChunkRef,
    ContentErased,
    Envelope,
    SourceAdded,
    SourceDescribed,
    SourceExtracted,
    SourceMeta,
    SourceRemoved,
    SourceRetagged,
    Span,
)
from projections import lexical
from projections.base import SqliteProjection
from projections.embedding_cache import CachedEmbedder
from projections.fusion import convex, rrf
from projections.ingest import load_manifest
from projections.store import Views
from projections.vectorstores import (
    ADDED_REV,
    MAX_K,
    REMOVED_REV,
    Filter,
    Metadata,
    VectorHit,
    VectorIndex,
    VectorRecord,
    chunk_metadata,
)

log = logging.getLogger(__name__)

SearchMode = Literal["vector", "lexical", "hybrid"]
SEARCH_MODES: tuple[str, ...] = ("vector", "lexical", "hybrid")
DEFAULT_SEARCH_MODE: SearchMode = "hybrid"
FUSION_DEPTH = 40
"""Hits taken from each side before fusing (at least 4 k): fusion needs the lists' tails, where
the other side's best hits often sit."""
Fusion = Literal["convex", "rrf"]
FUSION: Fusion = "convex"
LEXICAL_WEIGHT = 0.6
"""The lexical side's weight in the convex fusion (the vector side's is 1 - this); set by the
quality bench (docs/quality.md)."""


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """A retrieved passage: the search hit shape of docs/architecture.md plus the chunk hash."""

    source: str
    source_name: str
    span: Span
    text: str
    score: float
    chunk: str
    cite: str = ""
    """How an answer names the passage's work, "Author (Year)", for a source with metadata."""


class Retrieved(msgspec.Struct, frozen=True, kw_only=True):
    """Hits of a search and the best cosine similarity seen (None when no vector was asked)."""

    hits: list[SearchHit]
    similarity: float | None
    rare_match: bool = False
    """A word of the query that few chunks of the chapter hold (a name, a code, a number) is
    in a hit: an exact-term lookup that found its term, whatever the cosine says."""


class _Held(ChunkRef, frozen=True, kw_only=True):
    """A chunk the live index holds, and the rev it was added at."""

    added: int = 0


def _place(c: ChunkRef) -> tuple[int, int, int | None, str | None]:
    return (c.start, c.end, c.page, c.heading)


@dataclass
class _SourceState:
    name: str
    tags: list[str]
    meta: SourceMeta | None = None
    text_blob: str | None = None
    chunks: list[_Held] = field(default_factory=list)


def _coalesced(steps: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """The steps with neighbouring writes of one kind merged into one call: a batch of many
    small sources is then one index write per namespace, not one per source (each costs a
    vector store round trip and commit). A record written twice keeps its later version, as
    two calls would have left it (every store keeps an id's last record of a call:
    `check_records`); order across kinds is kept."""
    out: list[tuple[str, object]] = []
    for kind, arg in steps:
        if out and kind != "delete_source" and out[-1][0] == kind:
            out[-1] = (kind, [*cast("list[object]", out[-1][1]), *cast("list[object]", arg)])
        else:
            out.append((kind, arg))
    return out


@dataclass
class _Ops:
    """Index operations of one batch, in log order."""

    steps: list[tuple[str, object]] = field(default_factory=list)

    def upsert(self, records: list[VectorRecord]) -> None:
        """Records without their vectors yet: `_perform` embeds a whole batch's in one go."""
        if records:
            self.steps.append(("upsert", records))

    def retire(self, records: list[VectorRecord]) -> None:
        """Records for the history namespace (vectors to come, from the cache)."""
        if records:
            self.steps.append(("retire", records))

    def delete(self, ids: list[str]) -> None:
        if ids:
            self.steps.append(("delete", ids))

    def drop_source(self, source: str) -> None:
        self.steps.append(("delete_source", source))


_chunks_codec = msgspec.json.Decoder(list[_Held])
_meta_codec = msgspec.json.Decoder(SourceMeta)


def meta_metadata(meta: SourceMeta | None) -> dict[str, str | int]:
    """A source's bibliographic metadata as vector metadata (scalars only, which every index
    stores): `title`, `authors` ("; "-joined), `year`, `doi`, and `cite` ("Author (Year)")."""
    if meta is None:
        return {}
    found: dict[str, str | int] = {"title": meta.title, "authors": "; ".join(meta.authors)}
    if meta.year is not None:
        found["year"] = meta.year
    if meta.doi:
        found["doi"] = meta.doi
    if cite := meta.cite():
        found["cite"] = cite
    return found


_EMBED_GROUP = 512
"""Chunks embedded in one call of a batch's index operations (a bound on the vectors held)."""


def _span(m: Metadata) -> Span:
    """A record's span, from its metadata (page and heading only where the chunk has them)."""
    page, heading = m.get("page"), m.get("heading")
    return Span(
        start=int(m["start"]),
        end=int(m["end"]),
        page=int(page) if page is not None else None,
        heading=str(heading) if heading is not None else None,
    )


def _hit(hit: VectorHit) -> SearchHit:
    m = hit.metadata
    return SearchHit(
        source=str(m["source"]),
        source_name=str(m.get("source_name", "")),
        span=_span(m),
        text=hit.document or "",
        score=hit.score,
        cite=str(m.get("cite", "")),
        chunk=str(m["chunk"]),
    )


def _lexical_row(source: str, name: str, c: ChunkRef, text: str, cite: str) -> lexical.LexicalRow:
    return lexical.LexicalRow(
        id=record_id(source, c.hash), source=source, source_name=name, chunk=c.hash,
        span=Span(start=c.start, end=c.end, page=c.page, heading=c.heading),
        text=text[c.start : c.end], cite=cite,
    )  # fmt: skip


def _record_row(r: VectorRecord) -> lexical.LexicalRow:
    m = r.metadata
    return lexical.LexicalRow(
        id=r.id,
        source=str(m["source"]),
        source_name=str(m.get("source_name", "")),
        chunk=str(m["chunk"]),
        span=_span(m),
        text=r.document or "",
        cite=str(m.get("cite", "")),
    )


def _lexical_hit(hit: lexical.LexicalHit) -> SearchHit:
    row = hit.row
    return SearchHit(
        source=row.source, source_name=row.source_name, span=row.span, text=row.text,
        score=hit.score, chunk=row.chunk, cite=row.cite,
    )  # fmt: skip


class _TagShares:
    """The share of a window of nearest records that passed a chapter's tag filter last time.

    Only a hint for how wide the next window must be (about twice what the share says k hits
    need): a window that falls short is widened, so a stale share costs time, never a hit.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._shares: OrderedDict[tuple[str, frozenset[str]], float] = OrderedDict()
        self._capacity = capacity

    def window(self, key: tuple[str, frozenset[str]], k: int, wide: int) -> int:
        """How many nearest records to fetch for k hits; `wide` when nothing is known."""
        share = self._shares.get(key)
        if not share:
            return wide
        self._shares.move_to_end(key)
        return min(wide, max(4 * k, math.ceil(2 * k / share)))

    def record(self, key: tuple[str, frozenset[str]], passed: int, seen: int) -> None:
        """Remember that `passed` of `seen` nearest records carried the tags."""
        if seen:
            self._shares[key] = passed / seen
            self._shares.move_to_end(key)
            if len(self._shares) > self._capacity:
                self._shares.popitem(last=False)


def record_id(source: str, chunk: str) -> str:
    """The index id of a chunk of a source."""
    return f"{source}:{chunk}"


def retired_id(source: str, chunk: str, added: int) -> str:
    """The history namespace's id of one stretch of a chunk's life (from `added`)."""
    return f"{source}:{chunk}:{added}"


def history_namespace(chapter: str) -> str:
    """Where the chapter's retired records live (a chapter id never contains `_`)."""
    return f"{chapter}_history"


_TAGGED = {
    "sqlite": "SELECT DISTINCT source FROM vectors_sources, json_each(vectors_sources.tags) "
    "WHERE chapter = ? AND json_each.value",
    "postgresql": "SELECT DISTINCT source FROM vectors_sources, "
    "jsonb_array_elements_text(vectors_sources.tags::jsonb) AS t(value) WHERE chapter = ? "
    "AND t.value",
}
"""The sources of a chapter whose JSON tags hold a value (the caller adds `IN (…)`), in each
views dialect: the one statement of this module that differs."""


class Vectors(SqliteProjection):
    """Keeps the vector index of every chapter it folds."""

    name = "vectors"
    version = 2
    """2: records carry `added_rev`; retired chunks are kept in the history namespace."""
    schema = """
    CREATE TABLE IF NOT EXISTS vectors_sources (
        chapter TEXT NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL, tags TEXT NOT NULL,
        text_blob TEXT, chunks TEXT NOT NULL, PRIMARY KEY (chapter, source)
    );
    CREATE TABLE IF NOT EXISTS vectors_models (chapter TEXT PRIMARY KEY, model TEXT NOT NULL);
    """
    tables = ("vectors_sources", "vectors_models")

    def __init__(
        self, views: Views, blobs: BlobStore, index: VectorIndex, embedder: CachedEmbedder
    ) -> None:
        super().__init__(views)
        self._lexical = lexical.backend(views)
        """The lexical index's functions for this views database (`projections.lexical`'s)."""
        self.blobs = blobs
        self.index = index
        self.embedder = embedder
        self._tag_shares = _TagShares()
        self.fusion: Fusion = FUSION
        self.lexical_weight = LEXICAL_WEIGHT
        self._backfill_total = 0
        self._backfill_done = 0

    async def open(self) -> None:
        """Create the tables; add `meta` (the source's SourceMeta as JSON, added after the first
        release) to an older database, where it is NULL as no older event carries it; and count
        the chapters whose lexical index is still to build."""
        await super().open()
        if self.views.dialect == "sqlite":  # PostgreSQL's schema is migrated when it opens
            columns = await self.views.fetchall("PRAGMA table_info(vectors_sources)")
            if "meta" not in {row[1] for row in columns}:
                await self.views.script("ALTER TABLE vectors_sources ADD COLUMN meta TEXT;")
        async with self.views.transaction() as db:
            # Indexes whose rows lack `cite` are built again from the state, as `idle` builds one.
            if outdated := await self._lexical.drop_outdated(db):
                log.info("lexical index: %d chapters' rows predate cite", len(outdated))
        missing = await self._lexical.missing_chapters(self.views)
        self._backfill_total = missing
        if missing:
            log.info("lexical index: %d chapters to build in the background", missing)

    async def load_checkpoint(self, chapter: str) -> tuple[int, int] | None:
        """(rev, version) of the chapter, version 0 when its vectors came from another embedder
        than this one's (`model`, the variant included) or from a release that did not record
        it: the runner then rebuilds the chapter, re-embedding it (the embedding cache serves
        what the same model embedded before), so one index never holds two models' vectors."""
        checkpoint = await super().load_checkpoint(chapter)
        if checkpoint is None:
            return None
        row = await self.views.fetchone(
            "SELECT model FROM vectors_models WHERE chapter = ?", (chapter,)
        )
        model = self.embedder.model
        if row is None or row[0] != model:
            log.warning(
                "chapter %s: vectors embedded with %s, the embedder is now %s: re-embedding",
                chapter, "an unrecorded model" if row is None else row[0], model,
            )  # fmt: skip
            return checkpoint[0], 0
        return checkpoint

    def lexical_progress(self) -> tuple[int, int]:
        """(built, to build) of the chapters whose lexical index is made after an upgrade."""
        return self._backfill_done, self._backfill_total

    async def reset(self, chapter: str) -> None:
        """Drop the chapter's namespaces and lexical index as well as its state rows."""
        await self.index.drop(chapter)
        await self.index.drop(history_namespace(chapter))
        async with self.views.transaction() as db:
            for table in self.tables:
                await db.execute(f"DELETE FROM {table} WHERE chapter = ?", (chapter,))
            await self._lexical.drop_chapter(db, chapter)
            await self._checkpoints.forget(db, chapter)

    async def idle(self, chapter: str) -> None:
        """Build the chapter's lexical index if an older version folded it without one."""
        if await self._lexical.exists(self.views, chapter):
            return
        rows = await self.views.fetchall(
            "SELECT source, name, text_blob, chunks, meta FROM vectors_sources "
            "WHERE chapter = ? ORDER BY source",
            (chapter,),
        )
        built: list[lexical.LexicalRow] = []
        for source, name, text_blob, chunks, meta in rows:
            if text_blob is None:
                continue
            text = (await self.blobs.get(text_blob)).decode()
            cite = "" if meta is None else _meta_codec.decode(meta).cite()
            built.extend(
                _lexical_row(source, name, c, text, cite) for c in _chunks_codec.decode(chunks)
            )
        async with self.views.transaction() as db:
            if await self._lexical.exists_within(db, chapter):
                return  # built meanwhile
            await self._lexical.ensure(db, chapter)
            await self._lexical.write_rows(db, chapter, built)
        if rows:
            self._backfill_done += 1
            log.info(
                "lexical index: chapter %s built, %d chunks (%d of %d chapters)",
                chapter, len(built), self._backfill_done, self._backfill_total,
            )  # fmt: skip

    async def forget(
        self,
        chapter: str,
        *,
        sources: Collection[str] = (),
        records: Collection[str] = (),
    ) -> None:
        """Remove chunks from every index of the chapter in one call: whole `sources` (live and
        history records) and single `records` (`<source>:<chunk hash>` ids, with their history
        stretches). The lexical rows go in one transaction; the vector deletes, idempotent, go
        first, so a crash between the two leaves nothing that a repeat call would not remove.

        This is the path for anything that must stop being findable (erasure): the per-source
        state is not touched here, the caller's own events decide what a rebuild re-creates.
        """
        history = history_namespace(chapter)
        for source in sorted(set(sources)):
            await self.index.delete_source(chapter, source)
            await self.index.delete_source(history, source)
        wanted = sorted(set(records))
        if wanted:
            await self.index.delete(chapter, wanted)
            prefixes = tuple(f"{r}:" for r in wanted)
            retired = [i async for i, _ in self.index.ids(history) if i.startswith(prefixes)]
            await self.index.delete(history, retired)
        async with self.views.transaction() as db:
            await self._lexical.ensure(db, chapter)
            await self._lexical.delete_sources(db, chapter, sorted(set(sources)))
            await self._lexical.delete_ids(db, chapter, wanted)

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        """Fold a batch: index operations first (idempotent), then state and checkpoint."""
        states: dict[str, _SourceState | None] = {}
        ops = _Ops()
        for envelope in events:
            body = envelope.body
            if isinstance(body, ContentErased):
                await self._perform(chapter, ops)  # what came before, then the forgetting
                ops = _Ops()
                if body.whole:
                    await self.forget_chapter(chapter)
                    states = {}
                elif body.source is not None:
                    await self.forget_source(chapter, body.source, states)
                    states[body.source] = None
                continue
            if isinstance(body, SourceAdded):
                # A re-added id starts afresh: what the old source had indexed is retired.
                previous = await self._state(chapter, body.source, states)
                if previous is not None and previous.chunks:
                    await self._retire_all(chapter, envelope.rev, body.source, previous, ops)
                states[body.source] = _SourceState(
                    name=body.name, tags=sorted(set(body.tags)), meta=body.meta
                )
            elif isinstance(
                body, SourceExtracted | SourceRetagged | SourceRemoved | SourceDescribed
            ):
                state = await self._state(chapter, body.source, states)
                if state is None:
                    continue  # a fact about a source this chapter never added
                if isinstance(body, SourceExtracted):
                    await self._on_extracted(chapter, envelope.rev, body, state, ops)
                elif isinstance(body, SourceRetagged):
                    state.tags = sorted(set(body.tags))
                    await self._reupsert(chapter, envelope.rev, body.source, state, ops)
                elif isinstance(body, SourceDescribed):
                    state.meta = body.meta
                    await self._reupsert(chapter, envelope.rev, body.source, state, ops)
                else:
                    await self._retire_all(chapter, envelope.rev, body.source, state, ops)
                    states[body.source] = None
        await self._perform(chapter, ops)
        async with self.views.transaction() as db:
            await self._checkpoints.fence(db, chapter)
            await self._write_lexical(db, chapter, ops)
            for source, state in states.items():
                if state is None:
                    await db.execute(
                        "DELETE FROM vectors_sources WHERE chapter = ? AND source = ?",
                        (chapter, source),
                    )
                    continue
                chunks = msgspec.json.encode(state.chunks).decode()
                meta = None if state.meta is None else msgspec.json.encode(state.meta).decode()
                await db.execute(
                    "INSERT INTO vectors_sources "
                    "(chapter, source, name, tags, text_blob, chunks, meta) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chapter, source) DO UPDATE SET "
                    "name = excluded.name, tags = excluded.tags, text_blob = excluded.text_blob, "
                    "chunks = excluded.chunks, meta = excluded.meta",
                    (chapter, source, state.name, json.dumps(state.tags), state.text_blob, chunks,
                     meta),
                )  # fmt: skip
            await db.execute(
                "INSERT INTO vectors_models (chapter, model) VALUES (?, ?) "
                "ON CONFLICT (chapter) DO UPDATE SET model = excluded.model",
                (chapter, self.embedder.model),
            )
            await self._checkpoints.store(
                db, chapter, events[-1].rev, self.version, after=events[0].rev - 1
            )

    # -- erasure (docs/log-format.md, "Erasure"): every index forgets, not hides ----------------

    async def forget_source(
        self, chapter: str, source: str, states: dict[str, _SourceState | None] | None = None
    ) -> None:
        """Erase a source from the chapter's indexes: its records are deleted from the live and
        history namespaces (documents deleted, not retired), and its chunks' cached vectors
        dropped. Other indexes of the chapter (a lexical one) hook here."""
        state = await self._state(chapter, source, states if states is not None else {})
        chunks = [c.hash for c in state.chunks] if state is not None else []
        async for _, metadata in self.index.ids(history_namespace(chapter)):
            if metadata.get("source") == source:  # chunks an edit retired: erased too
                chunks.append(str(metadata.get("chunk")))
        await self.forget(chapter, sources=[source])  # vector namespaces and lexical rows
        await self.embedder.cache.forget(chunks)
        async with self.views.transaction() as db:
            await db.execute(
                "DELETE FROM vectors_sources WHERE chapter = ? AND source = ?", (chapter, source)
            )

    async def forget_chapter(self, chapter: str) -> None:
        """Erase everything the chapter's indexes hold: both namespaces dropped, the cached
        vectors of every chunk it indexed dropped, its rows deleted."""
        rows = await self.views.fetchall(
            "SELECT chunks FROM vectors_sources WHERE chapter = ?", (chapter,)
        )
        chunks = [c.hash for (raw,) in rows for c in _chunks_codec.decode(raw)]
        async for _, metadata in self.index.ids(history_namespace(chapter)):
            chunks.append(str(metadata.get("chunk")))
        await self.index.drop(chapter)
        await self.index.drop(history_namespace(chapter))
        await self.embedder.cache.forget(chunks)
        async with self.views.transaction() as db:
            await db.execute("DELETE FROM vectors_sources WHERE chapter = ?", (chapter,))
            await self._lexical.drop_chapter(db, chapter)

    async def _write_lexical(self, db: aiosqlite.Connection, chapter: str, ops: _Ops) -> None:
        """The batch's index operations on the lexical index, in log order (live chunks only:
        retired records stay in the vector history alone)."""
        await self._lexical.ensure(db, chapter)  # the index exists from the first batch on
        for kind, arg in ops.steps:
            if kind == "upsert":
                records = cast("list[VectorRecord]", arg)
                await self._lexical.write_rows(db, chapter, [_record_row(r) for r in records])
            elif kind == "delete":
                await self._lexical.delete_ids(db, chapter, cast("list[str]", arg))
            elif kind == "delete_source":
                await self._lexical.delete_sources(db, chapter, [cast("str", arg)])

    async def _state(
        self, chapter: str, source: str, states: dict[str, "_SourceState | None"]
    ) -> "_SourceState | None":
        if source not in states:
            row = await self.views.fetchone(
                "SELECT name, tags, text_blob, chunks, meta FROM vectors_sources "
                "WHERE chapter = ? AND source = ?",
                (chapter, source),
            )
            states[source] = (
                _SourceState(
                    name=row[0],
                    tags=json.loads(row[1]),
                    text_blob=row[2],
                    chunks=_chunks_codec.decode(row[3]),
                    meta=None if row[4] is None else _meta_codec.decode(row[4]),
                )
                if row
                else None
            )
        return states[source]

    async def _on_extracted(
        self, chapter: str, rev: int, body: SourceExtracted, state: _SourceState, ops: _Ops
    ) -> None:
        if not await self.blobs.exists(body.text_blob) or (
            body.chunks_blob is not None and not await self.blobs.exists(body.chunks_blob)
        ):
            # Erased (a copy or a re-fold of a chapter whose source was erased): nothing to index.
            state.text_blob, state.chunks = None, []
            return
        manifest = await load_manifest(self.blobs, body)
        old = {c.hash: c for c in state.chunks}
        new = {c.hash: c for c in manifest}
        # Chunks that left, and kept chunks that an edit moved (their span, page or heading
        # changed): both retire their record; the moved ones are written again with their new
        # place and `added_rev`, their vectors coming from the cache. Only new chunks embed.
        gone = [c for h, c in old.items() if h not in new or _place(new[h]) != _place(c)]
        held = [
            old[c.hash] if c.hash in old and _place(old[c.hash]) == _place(c)
            else _Held(**msgspec.structs.asdict(c), added=rev)
            for c in manifest
        ]  # fmt: skip
        changed = [c for c in held if c.added == rev]  # kept chunks were added before this rev
        if gone:
            await self._retire(chapter, rev, body.source, state, gone, ops)
        text = (await self.blobs.get(body.text_blob)).decode() if changed else ""
        ops.delete([record_id(body.source, h) for h in sorted(old.keys() - new.keys())])
        ops.upsert(self._records(chapter, rev, body.source, state, changed, text))
        state.text_blob = body.text_blob
        state.chunks = held

    async def _retire_all(
        self, chapter: str, rev: int, source: str, state: _SourceState, ops: _Ops
    ) -> None:
        """The source leaves the live index: each of its chunks moves to the history."""
        await self._retire(chapter, rev, source, state, state.chunks, ops)
        ops.drop_source(source)

    async def _retire(
        self,
        chapter: str,
        rev: int,
        source: str,
        state: _SourceState,
        chunks: Sequence[_Held],
        ops: _Ops,
    ) -> None:
        if not chunks or state.text_blob is None or not await self.blobs.exists(state.text_blob):
            return
        text = (await self.blobs.get(state.text_blob)).decode()
        records = self._records(chapter, rev, source, state, chunks, text)
        ops.retire(
            [
                msgspec.structs.replace(
                    r,
                    id=retired_id(source, c.hash, c.added),
                    metadata={**r.metadata, REMOVED_REV: rev},
                )
                for r, c in zip(records, chunks, strict=True)
            ]
        )

    async def _reupsert(
        self, chapter: str, rev: int, source: str, state: _SourceState, ops: _Ops
    ) -> None:
        if (
            not state.chunks
            or state.text_blob is None
            or not await self.blobs.exists(state.text_blob)
        ):
            return
        text = (await self.blobs.get(state.text_blob)).decode()
        ops.upsert(self._records(chapter, rev, source, state, state.chunks, text))

    def _records(
        self,
        chapter: str,
        rev: int,
        source: str,
        state: _SourceState,
        chunks: Sequence[_Held],
        text: str,
    ) -> list[VectorRecord]:
        """The chunks' records, their vectors still to come (see `_perform`)."""
        records = []
        for c in chunks:
            extra: dict[str, str | int | float | bool] = {
                "chunk": c.hash,
                "start": c.start,
                "end": c.end,
                "source_name": state.name,
                ADDED_REV: c.added,
                **meta_metadata(state.meta),
            }
            if c.page is not None:
                extra["page"] = c.page
            if c.heading is not None:
                extra["heading"] = c.heading
            records.append(
                VectorRecord(
                    id=record_id(source, c.hash),
                    vector=[],
                    metadata=chunk_metadata(
                        chapter=chapter, source=source, rev=rev, tags=state.tags, extra=extra
                    ),
                    document=text[c.start : c.end],
                )
            )
        return records

    async def _perform(self, chapter: str, ops: _Ops) -> None:
        """Run the batch's index operations in log order, embedding upserts a group at a time:
        one embedding call for several sources (a few chunks each would keep the model's
        batches small, and a remote embedder's requests many), with vectors held for one
        group only."""
        group: list[tuple[str, object]] = []
        pending = 0
        for step in ops.steps:
            size = (
                len(cast("list[VectorRecord]", step[1])) if step[0] in ("upsert", "retire") else 0
            )
            if group and pending + size > _EMBED_GROUP:
                await self._perform_group(chapter, group)
                group, pending = [], 0
            group.append(step)
            pending += size
        if group:
            await self._perform_group(chapter, group)

    async def _perform_group(self, chapter: str, steps: list[tuple[str, object]]) -> None:
        texts = {
            str(r.metadata["chunk"]): r.document or ""
            for kind, records in steps
            if kind in ("upsert", "retire")
            for r in cast("list[VectorRecord]", records)
        }
        vectors = await self.embedder.embed_chunks(texts) if texts else {}
        for kind, arg in _coalesced(steps):
            if kind in ("upsert", "retire"):
                assert isinstance(arg, list)
                embedded = [
                    msgspec.structs.replace(r, vector=vectors[str(r.metadata["chunk"])])
                    for r in arg
                ]
                namespace = chapter if kind == "upsert" else history_namespace(chapter)
                await self.index.upsert(namespace, embedded)
            elif kind == "delete":
                assert isinstance(arg, list)
                await self.index.delete(chapter, arg)
            else:
                assert isinstance(arg, str)
                await self.index.delete_source(chapter, arg)

    # -- reading ------------------------------------------------------------------------------

    async def search(
        self,
        chapter: str,
        query: str,
        *,
        k: int = 8,
        tags: Sequence[str] | None = None,
        mode: SearchMode = "vector",
    ) -> list[SearchHit]:
        """The `k` passages best matching `query`, optionally only from sources with `tags`.

        `mode`: `vector` (cosine similarity; `score` is the cosine), `lexical` (BM25 over the
        FTS5 index, or `ts_rank_cd` in PostgreSQL; `score` is that score) or `hybrid` (both
        fused, by `self.fusion`: convex by default; `score` is the fused score, comparable only
        within one result list).
        """
        return (await self.retrieve(chapter, query, k=k, tags=tags, mode=mode)).hits

    async def retrieve(
        self,
        chapter: str,
        query: str,
        *,
        k: int = 8,
        tags: Sequence[str] | None = None,
        mode: SearchMode = "vector",
    ) -> "Retrieved":
        """`search`, with the best cosine similarity any chunk has to the query (None in
        lexical mode): the calibrated signal an answer uses to say the sources don't cover it."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}; one of {', '.join(SEARCH_MODES)}")
        sources: set[str] | None = None
        if tags and mode != "vector":
            sources = await self._tagged_sources(chapter, None, set(tags))
        if mode == "lexical":
            found = await self._lexical.search(self.views, chapter, query, k, sources=sources)
            hits = [_lexical_hit(h) for h in found]
            return Retrieved(
                hits=hits, similarity=None, rare_match=await self._rare_match(chapter, query, hits)
            )
        vector = await self.embedder.embed_query(query)
        depth = k if mode == "vector" else max(FUSION_DEPTH, 4 * k)
        if tags:
            near = await self._search_tagged(chapter, vector, depth, set(tags))
        else:
            near = await self.index.query(chapter, vector, depth)
        similarity = max((h.score for h in near), default=None)
        if mode == "vector":
            return Retrieved(hits=[_hit(h) for h in near], similarity=similarity)
        found = await self._lexical.search(self.views, chapter, query, depth, sources=sources)
        hits = self._fuse(near, found, k)
        return Retrieved(
            hits=hits,
            similarity=similarity,
            rare_match=await self._rare_match(chapter, query, hits),
        )

    async def _rare_match(self, chapter: str, query: str, hits: Sequence[SearchHit]) -> bool:
        rare = await self._lexical.rare_terms(self.views, chapter, query) if hits else set()
        if not rare:
            return False
        words = {w for h in hits for w in lexical.words_of(h.text)}
        return bool(rare & words)

    def _fuse(
        self, near: Sequence[VectorHit], found: Sequence[lexical.LexicalHit], k: int
    ) -> list[SearchHit]:
        """The vector and lexical hits fused (`self.fusion`), the best `k`."""
        by_id: dict[str, SearchHit] = {h.id: _hit(h) for h in near}
        for h in found:
            by_id.setdefault(h.row.id, _lexical_hit(h))
        if self.fusion == "rrf":
            fused = rrf([[h.id for h in near], [h.row.id for h in found]])[:k]
        else:
            w = self.lexical_weight
            fused = convex(
                [[(h.id, h.score) for h in near], [(h.row.id, h.score) for h in found]],
                weights=[1.0 - w, w],
            )[:k]
        return [msgspec.structs.replace(by_id[i], score=score) for i, score in fused]

    async def expand(
        self, chapter: str, hits: Sequence[SearchHit], *, window: int = 1
    ) -> list[SearchHit]:
        """Each hit widened to `window` neighbouring chunks on each side of its source (the
        sentence that began in the chunk before, the one that ends in the next), its span and
        text with them; a hit inside a better hit's widened span is dropped. The chunk hash
        stays the hit's own. A source no longer in the chapter keeps its hit as it was."""
        texts: dict[str, str] = {}
        out: list[SearchHit] = []
        wanted = sorted({h.source for h in hits})
        # One query for every hit's source (a source with several hits is read once).
        rows = {
            source: (text_blob, _chunks_codec.decode(chunks))
            for source, text_blob, chunks in await self.views.fetchall(
                "SELECT source, text_blob, chunks FROM vectors_sources WHERE chapter = ? "
                f"AND source IN ({','.join('?' * len(wanted))})",
                (chapter, *wanted),
            )
        } if wanted else {}  # fmt: skip
        for hit in hits:
            row = rows.get(hit.source)
            chunks = row[1] if row and row[0] else []
            at = next((n for n, c in enumerate(chunks) if c.hash == hit.chunk), None)
            if row is None or at is None:
                out.append(hit)
                continue
            if row[0] not in texts:
                texts[row[0]] = (await self.blobs.get(row[0])).decode()
            lo = chunks[max(0, at - window)].start
            hi = chunks[min(len(chunks) - 1, at + window)].end
            if any(o.source == hit.source and o.span.start <= lo and hi <= o.span.end for o in out):
                continue
            span = msgspec.structs.replace(hit.span, start=lo, end=hi)
            out.append(
                msgspec.structs.replace(hit, span=span, text=texts[row[0]][lo:hi])
            )  # fmt: skip
        return out

    async def retrieve_at(
        self,
        chapter: str,
        query: str,
        *,
        rev: int,
        k: int = 8,
        sources: Collection[str] | None = None,
        mode: SearchMode = "vector",
    ) -> "Retrieved":
        """The `k` passages best matching `query` among those searchable at `rev`, with the best
        cosine similarity of those passages to the query (None in lexical mode) and whether a
        rare query term is in a hit, as `retrieve` gives them for now (`.hits` alone: the search
        as of `rev`).

        `sources` restricts the search to these source ids (None: all; empty: nothing), which is
        how a caller applies tags as they stood at `rev`. The index must have folded `rev`.

        The lexical index keeps live chunks only: lexical hits as of `rev` are the live ones
        that were already searchable then (`added_rev <= rev`). A chunk removed since `rev` is
        found by the vector side alone, so a lexical or hybrid search as of a rev before a
        removal can differ from the search made then.
        """
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}; one of {', '.join(SEARCH_MODES)}")
        if sources is not None and not sources:
            return Retrieved(hits=[], similarity=None)
        depth = k if mode == "vector" else max(FUSION_DEPTH, 4 * k)
        near: list[VectorHit] = []
        similarity: float | None = None  # no cosine is measured in lexical mode
        if mode != "lexical":
            vector = await self.embedder.embed_query(query)
            chosen = sorted(sources) if sources is not None else None
            live = await self.index.query(
                chapter, vector, depth, Filter(sources=chosen, added_by=rev)
            )
            retired = await self.index.query(
                history_namespace(chapter),
                vector,
                depth,
                Filter(sources=chosen, added_by=rev, removed_after=rev),
            )
            near = sorted([*live, *retired], key=lambda h: -h.score)[:depth]
            similarity = max((h.score for h in near), default=None)
            if mode == "vector":
                return Retrieved(hits=[_hit(hit) for hit in near], similarity=similarity)
        found = await self._lexical.search(self.views, chapter, query, depth, sources=sources)
        records = await self.index.get(chapter, [h.row.id for h in found])
        then = [
            h
            for h in found
            if h.row.id in records and int(records[h.row.id].metadata.get(ADDED_REV, 0)) <= rev
        ]
        hits = (
            [_lexical_hit(h) for h in then[:k]] if mode == "lexical" else self._fuse(near, then, k)
        )
        return Retrieved(
            hits=hits,
            similarity=similarity,
            rare_match=await self._rare_match(chapter, query, hits),
        )

    async def _search_tagged(
        self, chapter: str, vector: list[float], k: int, tags: set[str]
    ) -> list[VectorHit]:
        """Tag filtering by source: this projection knows each source's tags, and record ids
        start with their source, so an ids-only neighbour list filtered here is exact as soon
        as k of its records pass. Engines' own metadata filters are far slower."""
        key = (chapter, frozenset(tags))
        # Past 400, an ids-only window costs more than the engine's own filter.
        wide = min(MAX_K, max(400, 50 * k))
        n = self._tag_shares.window(key, k, wide)
        while True:
            nearest = await self.index.nearest(chapter, vector, n)
            sources = {i.split(":", 1)[0] for i, _ in nearest}
            tagged = await self._tagged_sources(chapter, sources, tags)
            passed = [(i, score) for i, score in nearest if i.split(":", 1)[0] in tagged]
            self._tag_shares.record(key, len(passed), len(nearest))
            if len(passed) >= k or len(nearest) < n:
                kept = passed[:k]
                records = await self.index.get(chapter, [i for i, _ in kept])
                return [
                    msgspec.structs.replace(records[i], score=score)
                    for i, score in kept
                    if i in records
                ]
            if n >= wide:
                break
            n = wide
        # A rare tag: let the engine filter by the sources that carry it.
        everywhere = await self._tagged_sources(chapter, None, tags)
        if not everywhere:
            return []
        return await self.index.query(chapter, vector, k, Filter(sources=sorted(everywhere)))

    async def _tagged_sources(
        self, chapter: str, among: set[str] | None, tags: set[str]
    ) -> set[str]:
        """Sources of `chapter` (only those `among`, if given) carrying any of `tags`."""
        if among is not None and not among:
            return set()
        # The tags are matched inside the database: no row's JSON is decoded in Python.
        sql = _TAGGED[self.views.dialect] + f" IN ({','.join('?' * len(tags))})"
        params: list[str] = [chapter, *tags]
        if among is not None:
            sql += f" AND source IN ({','.join('?' * len(among))})"
            params.extend(among)
        return {source for (source,) in await self.views.fetchall(sql, params)}

    async def digest(self, chapter: str) -> str:
        """A hash of the chapter's indexes (vector ids and metadata, lexical rows) and state, for
        rebuild comparisons."""
        entries = sorted(
            [
                (i, sorted(m.items()))
                for namespace in (chapter, history_namespace(chapter))
                async for i, m in self.index.ids(namespace)
            ]
        )
        rows = await self.views.fetchall(
            "SELECT source, name, tags, text_blob, chunks FROM vectors_sources "
            "WHERE chapter = ? ORDER BY source",
            (chapter,),
        )
        lexical_rows = await self._lexical.rows_of(self.views, chapter)
        data = msgspec.msgpack.encode(
            [entries, [list(r) for r in rows], [list(r) for r in lexical_rows]]
        )
        return rust_core.hash(data).hex()
