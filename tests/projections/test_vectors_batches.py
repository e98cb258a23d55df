"""The vectors projection folds a batch as it folds its events one at a time: its index writes
are merged per batch (one vector store call for many sources), and a merge must keep what a
later event did to a record that an earlier one wrote."""

from pathlib import Path

import rust_core
from engine.blobs import LocalBlobStore
from events import (
    ChunkRef,
    Envelope,
    Event,
    SourceAdded,
    SourceExtracted,
    SourceRemoved,
    SourceRetagged,
    new_id,
)
from projections.embedding_cache import CachedEmbedder, EmbeddingCache
from projections.store import Views
from projections.vectors import Vectors
from projections.vectorstores.chroma import ChromaIndex


async def _text(blobs: LocalBlobStore, text: str) -> tuple[str, list[ChunkRef]]:
    data = text.encode()
    blob = await blobs.put(data)
    return blob, [ChunkRef(hash=rust_core.hash(data).hex(), start=0, end=len(text))]


async def _history(blobs: LocalBlobStore) -> list[Event]:
    """Sources added, edited, retagged, removed and re-added, several in each state."""
    events: list[Event] = []

    async def add(source: str, text: str, tags: list[str] | None = None) -> None:
        blob, _ = await _text(blobs, text)
        events.append(
            SourceAdded(source=source, name=f"{source}.txt", media_type="text/plain", blob=blob,
                        size=len(text), tags=tags or [])
        )  # fmt: skip
        await extract(source, text)

    async def extract(source: str, text: str) -> None:
        blob, chunks = await _text(blobs, text)
        events.append(
            SourceExtracted(source=source, text_blob=blob, extractor="text", extractor_version="1",
                            media_type="text/plain", chunks=chunks, chunk_count=len(chunks))
        )  # fmt: skip

    for n in range(6):
        await add(f"s{n}", f"Note {n}: the valve on line {n} was replaced.", ["plant"])
    await extract("s1", "Note 1, edited: the valve on line 1 was cleaned, not replaced.")
    events.append(SourceRetagged(source="s1", tags=["plant", "edited"]))
    await extract("s1", "Note 1, edited twice: the valve on line 1 is fine.")
    events.append(SourceRemoved(source="s2"))
    await add("s2", "Note 2 again: a new pump on line 2.")
    events.append(SourceRetagged(source="s3", tags=[]))
    events.append(SourceRemoved(source="s4"))
    await add("s6", "Note 6: the valve on line 6 was replaced.", ["plant"])
    await extract("s0", "Note 0: the valve on line 0 was replaced.")  # unchanged text
    return events


async def _vectors(
    root: Path, blobs: LocalBlobStore, cache: EmbeddingCache, embedder
) -> tuple[Vectors, Views, ChromaIndex]:
    views = await Views.open(root / "views.sqlite3")
    index = ChromaIndex.embedded(root / "chroma")
    vectors = Vectors(views, blobs, index, CachedEmbedder(embedder, cache))
    await vectors.open()
    return vectors, views, index


async def test_one_batch_folds_to_the_indexes_of_one_event_at_a_time(
    tmp_path: Path, local_embedder
):
    blobs = LocalBlobStore(tmp_path / "blobs")
    cache = await EmbeddingCache.open(tmp_path / "embeddings.sqlite3")
    chapter = new_id()
    envelopes = [
        Envelope(id=new_id(), chapter=chapter, rev=n, at=n, actor="u", body=body)
        for n, body in enumerate(await _history(blobs), start=1)
    ]
    digests, closers = [], []
    try:
        for name, batches in (
            ("one", [envelopes]),
            ("each", [[e] for e in envelopes]),
        ):
            vectors, views, index = await _vectors(tmp_path / name, blobs, cache, local_embedder)
            closers += [views.close, index.close]
            for batch in batches:
                await vectors.apply(chapter, batch)
            digests.append(await vectors.digest(chapter))
            found = await vectors.search(chapter, "valve on line 1", k=8, mode="hybrid")
            assert {h.source for h in found} == {"s0", "s1", "s2", "s3", "s5", "s6"}
            s1 = [h for h in found if h.source == "s1"]
            assert len(s1) == 1 and "edited twice" in s1[0].text
            edited = await vectors.search(chapter, "valve", k=8, tags=["edited"], mode="hybrid")
            assert [h.source for h in edited] == ["s1"]
        assert digests[0] == digests[1]
    finally:
        for close in closers:
            await close()
        await cache.close()
