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
`added_rev <= N < removed_rev`, and nothing is re-embedded to see it (`search_at`). Why a second
namespace rather than a `removed_rev` flag on the one: a search of the chapter *now* stays the
plain, unfiltered query it always was (filtered queries are several times slower in Chroma), and
the live namespace keeps exactly the records it had before, so nothing that counts or lists it
changes. The history grows with every removal and edit; it goes when the chapter's index is
dropped. Tags are not read from retired records: an as-of search filters by the sources the
caller found carrying the tags at that rev (the audit fold knows them).

It is one module (about 520 lines): the fold, the batch's index operations and the searches
(now and as of a rev) share the per-source state and the history namespace's rules.
"""

import json
import math
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import cast

import msgspec

import rust_core
from engine.blobs import BlobStore
from events import (
    ChunkRef,
    Envelope,
    SourceAdded,
    SourceExtracted,
    SourceRemoved,
    SourceRetagged,
    Span,
)
from projections.base import SqliteProjection
from projections.embedding_cache import CachedEmbedder
from projections.ingest import load_manifest
from projections.store import Views
from projections.vectorstores import (
    ADDED_REV,
    MAX_K,
    REMOVED_REV,
    Filter,
    VectorHit,
    VectorIndex,
    VectorRecord,
    chunk_metadata,
)


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """A retrieved passage: the search hit shape of docs/architecture.md plus the chunk hash."""

    source: str
    source_name: str
    span: Span
    text: str
    score: float
    chunk: str


class _Held(ChunkRef, frozen=True, kw_only=True):
    """A chunk the live index holds, and the rev it was added at."""

    added: int = 0


def _place(c: ChunkRef) -> tuple[int, int, int | None, str | None]:
    return (c.start, c.end, c.page, c.heading)


@dataclass
class _SourceState:
    name: str
    tags: list[str]
    text_blob: str | None = None
    chunks: list[_Held] = field(default_factory=list)


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
_EMBED_GROUP = 512
"""Chunks embedded in one call of a batch's index operations (a bound on the vectors held)."""


def _hit(hit: VectorHit) -> SearchHit:
    m = hit.metadata
    page, heading = m.get("page"), m.get("heading")
    return SearchHit(
        source=str(m["source"]),
        source_name=str(m.get("source_name", "")),
        span=Span(
            start=int(m["start"]),
            end=int(m["end"]),
            page=int(page) if page is not None else None,
            heading=str(heading) if heading is not None else None,
        ),
        text=hit.document or "",
        score=hit.score,
        chunk=str(m["chunk"]),
    )


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
    """
    tables = ("vectors_sources",)

    def __init__(
        self, views: Views, blobs: BlobStore, index: VectorIndex, embedder: CachedEmbedder
    ) -> None:
        super().__init__(views)
        self.blobs = blobs
        self.index = index
        self.embedder = embedder
        self._tag_shares = _TagShares()

    async def reset(self, chapter: str) -> None:
        """Drop the chapter's namespace as well as its state rows."""
        await self.index.drop(chapter)
        await self.index.drop(history_namespace(chapter))
        await super().reset(chapter)

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        """Fold a batch: index operations first (idempotent), then state and checkpoint."""
        states: dict[str, _SourceState | None] = {}
        ops = _Ops()
        for envelope in events:
            body = envelope.body
            if isinstance(body, SourceAdded):
                # A re-added id starts afresh: what the old source had indexed is retired.
                previous = await self._state(chapter, body.source, states)
                if previous is not None and previous.chunks:
                    await self._retire_all(chapter, envelope.rev, body.source, previous, ops)
                states[body.source] = _SourceState(name=body.name, tags=sorted(set(body.tags)))
            elif isinstance(body, SourceExtracted | SourceRetagged | SourceRemoved):
                state = await self._state(chapter, body.source, states)
                if state is None:
                    continue  # a fact about a source this chapter never added
                if isinstance(body, SourceExtracted):
                    await self._on_extracted(chapter, envelope.rev, body, state, ops)
                elif isinstance(body, SourceRetagged):
                    state.tags = sorted(set(body.tags))
                    await self._reupsert(chapter, envelope.rev, body.source, state, ops)
                else:
                    await self._retire_all(chapter, envelope.rev, body.source, state, ops)
                    states[body.source] = None
        await self._perform(chapter, ops)
        async with self.views.transaction() as db:
            for source, state in states.items():
                if state is None:
                    await db.execute(
                        "DELETE FROM vectors_sources WHERE chapter = ? AND source = ?",
                        (chapter, source),
                    )
                    continue
                chunks = msgspec.json.encode(state.chunks).decode()
                await db.execute(
                    "INSERT OR REPLACE INTO vectors_sources VALUES (?, ?, ?, ?, ?, ?)",
                    (chapter, source, state.name, json.dumps(state.tags), state.text_blob, chunks),
                )
            await self._checkpoints.store(
                db, chapter, events[-1].rev, self.version, after=events[0].rev - 1
            )

    async def _state(
        self, chapter: str, source: str, states: dict[str, "_SourceState | None"]
    ) -> "_SourceState | None":
        if source not in states:
            row = await self.views.fetchone(
                "SELECT name, tags, text_blob, chunks FROM vectors_sources "
                "WHERE chapter = ? AND source = ?",
                (chapter, source),
            )
            states[source] = (
                _SourceState(
                    name=row[0],
                    tags=json.loads(row[1]),
                    text_blob=row[2],
                    chunks=_chunks_codec.decode(row[3]),
                )
                if row
                else None
            )
        return states[source]

    async def _on_extracted(
        self, chapter: str, rev: int, body: SourceExtracted, state: _SourceState, ops: _Ops
    ) -> None:
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
        if not chunks or state.text_blob is None:
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
        if not state.chunks or state.text_blob is None:
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
        for kind, arg in steps:
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
        self, chapter: str, query: str, *, k: int = 8, tags: Sequence[str] | None = None
    ) -> list[SearchHit]:
        """The `k` passages most similar to `query`, optionally only from sources with `tags`."""
        vector = await self.embedder.embed_query(query)
        if tags:
            hits = await self._search_tagged(chapter, vector, k, set(tags))
        else:
            hits = await self.index.query(chapter, vector, k)
        return [_hit(hit) for hit in hits]

    async def search_at(
        self,
        chapter: str,
        query: str,
        *,
        rev: int,
        k: int = 8,
        sources: Collection[str] | None = None,
    ) -> list[SearchHit]:
        """The `k` passages most similar to `query` among those searchable at `rev`.

        `sources` restricts the search to these source ids (None: all; empty: nothing), which is
        how a caller applies tags as they stood at `rev`. The index must have folded `rev`.
        """
        if sources is not None and not sources:
            return []
        vector = await self.embedder.embed_query(query)
        chosen = sorted(sources) if sources is not None else None
        live = await self.index.query(chapter, vector, k, Filter(sources=chosen, added_by=rev))
        retired = await self.index.query(
            history_namespace(chapter),
            vector,
            k,
            Filter(sources=chosen, added_by=rev, removed_after=rev),
        )
        hits = sorted([*live, *retired], key=lambda h: -h.score)[:k]
        return [_hit(hit) for hit in hits]

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
        # json_each matches the tags inside SQLite: no row's JSON is decoded in Python.
        sql = (
            "SELECT DISTINCT source FROM vectors_sources, json_each(vectors_sources.tags) "
            f"WHERE chapter = ? AND json_each.value IN ({','.join('?' * len(tags))})"
        )
        params: list[str] = [chapter, *tags]
        if among is not None:
            sql += f" AND source IN ({','.join('?' * len(among))})"
            params.extend(among)
        return {source for (source,) in await self.views.fetchall(sql, params)}

    async def digest(self, chapter: str) -> str:
        """A hash of the chapter's index (ids and metadata) and state, for rebuild comparisons."""
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
        data = msgspec.msgpack.encode([entries, [list(r) for r in rows]])
        return rust_core.hash(data).hex()
