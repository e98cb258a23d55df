"""Benchmark of ingest and search (issue 3): extraction, embedding, 1,000 documents from added to
searchable, the embedding cache on a re-ingest, an edit of a 300-page PDF, and search latency at
100,000 chunks.

    uv run python bench/bench_ingest.py            # the figures (under 10 minutes)
    uv run python bench/bench_ingest.py --quick    # tiny sizes: checks that the script works

Progress goes to stderr; the last line of stdout is one JSON object with the figures. The system
parts are the real ones: an embedded nats-server (bench/common.py), a local blob store, the read side
of app/readside.py (SQLite views, embedded Chroma, the local MiniLM embedder behind the
embedding cache). Baselines run in the same process: pypdf's own text extraction for PDF pages,
python-docx's paragraph texts for DOCX.

Search latency is measured on a synthetic index: embedding 100,000 chunks with the local model
would take about half an hour, so a few hundred distinct texts are embedded and 100,000 records
are made from them with small random perturbations (renormalised), with real metadata, 10% of
them tagged. Queries go through `Vectors.search` (embed the query, then query the index). Loading
the index is bounded by the time left; if 100,000 records do not fit, the figure is for the size
reached and `search_chunks` says so.

One benchmark per file keeps it past 400 lines: its sections share the one server and corpus.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import numpy as np
import pypdf

from app.readside import ReadSide, open_read_side
from app.settings import load_settings
from bench.common import (
    bench_parser,
    done,
    embedded_nats,
    finished,
    full_and_quick,
    machine,
    peak_rss_mb,
    say,
)
from bench.ingest_corpus import make_docx, make_pdf, mixed_document, paragraph, pdf_pages, sentence
from engine.blobs import LocalBlobStore
from engine.books import Books
from engine.log import Logs
from engine.sources import edit_source
from events import SourceAdded, new_id
from projections.embedding_cache import CachedEmbedder, EmbeddingCache
from projections.formats import extract
from projections.ingest import ChunkSizes, chunk_manifest
from projections.providers.local_embedder import LocalEmbedder
from projections.runner import LogSource, Runner
from projections.store import Views
from projections.vectors import Vectors
from projections.vectorstores import VectorRecord, chunk_metadata
from projections.vectorstores.chroma import ChromaIndex

TIME_LIMIT_S = 570.0
"""The whole benchmark must finish within 10 minutes; the index load stops in time for this."""


@dataclass(frozen=True)
class Sizes:
    pdf_docs: int
    pdf_pages: int
    docx_docs: int
    embed_chunks: int
    mixed_docs: int
    edit_pages: int
    search_chunks: int
    search_texts: int
    search_queries: int
    load_batch: int


FULL, QUICK = full_and_quick(
    Sizes,
    pdf_docs=(20, 2),
    pdf_pages=(25, 2),
    docx_docs=(100, 3),
    embed_chunks=(256, 16),
    mixed_docs=(1000, 10),
    edit_pages=(300, 4),
    search_chunks=(100_000, 1000),
    search_texts=(300, 10),
    search_queries=(200, 20),
    load_batch=(5000, 500),
)


def percentile_ms(seconds: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(seconds) * 1000, q)), 2)


# -- sections ------------------------------------------------------------------------------------


def bench_extraction(sizes: Sizes, rng: random.Random) -> dict[str, Any]:
    pdfs = [make_pdf(pdf_pages(rng, sizes.pdf_pages)) for _ in range(sizes.pdf_docs)]
    pages = sizes.pdf_docs * sizes.pdf_pages
    extract(make_pdf(pdf_pages(rng, 1)), name="warm-up.pdf")  # imports and first-call set-up
    extract(make_docx("Warm-up", [paragraph(rng)]), name="warm-up.docx")
    t0 = time.perf_counter()
    for n, data in enumerate(pdfs):
        extract(data, name=f"p{n}.pdf")
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for data in pdfs:
        for page in pypdf.PdfReader(io.BytesIO(data)).pages:
            page.extract_text()
    raw = time.perf_counter() - t0
    say(f"PDF: {pages} pages in {ours:.2f} s ({pages / ours:,.0f}/s); pypdf alone {raw:.2f} s")

    docs = [
        make_docx(f"Report {n}", [paragraph(rng) for _ in range(8)]) for n in range(sizes.docx_docs)
    ]
    t0 = time.perf_counter()
    for n, data in enumerate(docs):
        extract(data, name=f"d{n}.docx")
    ours_docx = time.perf_counter() - t0
    t0 = time.perf_counter()
    for data in docs:
        "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    raw_docx = time.perf_counter() - t0
    say(f"DOCX: {len(docs)} documents in {ours_docx:.2f} s; python-docx alone {raw_docx:.2f} s")
    return {
        "pdf_pages_per_s": round(pages / ours, 1),
        "pdf_baseline_pages_per_s": round(pages / raw, 1),
        "pdf_ratio": round(raw / ours, 3),
        "docx_docs_per_s": round(len(docs) / ours_docx, 1),
        "docx_baseline_docs_per_s": round(len(docs) / raw_docx, 1),
        "docx_ratio": round(raw_docx / ours_docx, 3),
    }


def bench_embedder(sizes: Sizes, rng: random.Random, embedder: LocalEmbedder) -> dict[str, Any]:
    """Chunks as the pipeline cuts them: half from prose, half from PDF pages (shorter lines)."""
    prose = "\n\n".join(paragraph(rng) for _ in range(sizes.embed_chunks))
    pages = extract(make_pdf(pdf_pages(rng, max(1, sizes.embed_chunks // 3))), name="e.pdf")
    texts = []
    for extracted, sections in ((prose, []), (pages.text, pages.sections)):
        manifest = chunk_manifest(extracted, sections, ChunkSizes())
        texts += [extracted[c.start : c.end] for c in manifest[: sizes.embed_chunks // 2]]
    tokens = sum(len(ids) for ids in embedder.tokenize(texts)) / len(texts)
    embedder.embed_sync(texts[:8])  # load the model (and build its graph on a fresh machine)
    t0 = time.perf_counter()
    for start in range(0, len(texts), 64):  # CachedEmbedder's batch
        embedder.embed_sync(texts[start : start + 64])
    seconds = time.perf_counter() - t0
    say(f"embedder: {len(texts)} chunks (~{tokens:.0f} word pieces) in {seconds:.2f} s")
    return {"embed_chunks_per_s": round(len(texts) / seconds, 1), "embed_avg_tokens": round(tokens)}


async def settled(worker: ReadSide, chapter: str) -> None:
    """Until every projection has folded the chapter to its head and ingest has nothing left."""
    async with asyncio.timeout(TIME_LIMIT_S):
        while True:
            log = worker.logs.chapter(chapter)
            head = (await log.head()).rev
            await worker.runner.wait(chapter, head)
            if not await worker.ingest.pending(chapter) and (await log.head()).rev == head:
                return
            await asyncio.sleep(0.05)


async def bench_pipeline(
    sizes: Sizes, rng: random.Random, embedder: LocalEmbedder, tmp: Path
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with embedded_nats() as (server, nc):
        say(f"nats-server store {server.store_dir}")
        logs = Logs(nc)
        books = Books(logs)
        await books.start()
        book = await books.create_book("u-bench", "bench@example.org", "Bench")
        chapter = (await books.create_chapter("u-bench", book.id, "Mixed")).id
        long_chapter = (await books.create_chapter("u-bench", book.id, "Long")).id
        await books.stop()
        blobs = LocalBlobStore(tmp / "blobs")
        settings = load_settings(
            environ={}, data_dir=str(tmp / "worker"), llm={"kind": "extractive"}
        )
        worker = await open_read_side(
            settings, logs, blobs, embedder=embedder, use_llm_settings=False
        )
        try:
            await worker.runner.start(discover=False)
            worker.runner.watch(chapter)
            worker.runner.watch(long_chapter)
            figures |= await _mixed(sizes, rng, worker, chapter)
            figures |= await _edit(sizes, rng, worker, long_chapter)
            await worker.runner.stop()
            figures |= await _reingest(worker, chapter)
        finally:
            await worker.close()
            await logs.close()
    return figures


async def _mixed(
    sizes: Sizes, rng: random.Random, worker: ReadSide, chapter: str
) -> dict[str, Any]:
    docs = [mixed_document(rng, i) for i in range(sizes.mixed_docs)]
    t0 = time.perf_counter()
    bodies = []
    for name, media_type, data, _ in docs:
        bodies.append(
            SourceAdded(
                source=new_id(),
                name=name,
                media_type=media_type or "application/octet-stream",
                blob=await worker.blobs.put(data),
                size=len(data),
            )
        )
    puts = time.perf_counter() - t0
    embedded = worker.embedder.embedded
    t0 = time.perf_counter()
    await worker.logs.chapter(chapter).append_many(bodies, actor="u-bench")
    await settled(worker, chapter)
    seconds = time.perf_counter() - t0
    sources = await worker.catalogue.sources(chapter)
    rejected = [s.name for s in sources if s.status != "extracted"]
    chunks = await worker.index.count(chapter)
    say(
        f"{len(docs)} mixed documents added -> searchable in {seconds:.1f} s "
        f"({chunks} chunks, {len(rejected)} not extracted; blob puts {puts:.1f} s)"
    )
    probe = rng.randrange(len(docs))  # found by its first paragraph
    hits = await worker.vectors.search(chapter, docs[probe][3], k=3)
    return {
        "docs_1000_to_searchable_s": round(seconds, 2),
        "mixed_docs": len(docs),
        "mixed_docs_per_s": round(len(docs) / seconds, 2),
        "mixed_chunks": chunks,
        "mixed_chunks_embedded": worker.embedder.embedded - embedded,
        "mixed_not_extracted": len(rejected),
        "mixed_blob_puts_s": round(puts, 2),
        "mixed_search_finds_probe": any(h.source == bodies[probe].source for h in hits),
    }


async def _edit(sizes: Sizes, rng: random.Random, worker: ReadSide, chapter: str) -> dict[str, Any]:
    pages = pdf_pages(rng, sizes.edit_pages)
    data = make_pdf(pages)
    t0 = time.perf_counter()
    body = SourceAdded(
        source=new_id(),
        name="long-report.pdf",
        media_type="application/pdf",
        blob=await worker.blobs.put(data),
        size=len(data),
    )
    await worker.logs.chapter(chapter).append(body, actor="u-bench")
    await settled(worker, chapter)
    ingest_s = time.perf_counter() - t0
    before = await worker.catalogue.source(chapter, body.source)
    assert before is not None and before.text_blob is not None, before
    say(f"{sizes.edit_pages}-page PDF: {before.chunks} chunks, searchable in {ingest_s:.1f} s")

    # One paragraph (here: one line of the PDF) in the middle is rewritten.
    text = (await worker.blobs.get(before.text_blob)).decode()
    old = pages[len(pages) // 2][18]
    embedded = worker.embedder.embedded
    t0 = time.perf_counter()
    await edit_source(
        worker.logs.chapter(chapter),
        worker.blobs,
        actor="u-bench",
        source=body.source,
        base_text=before.text_blob,
        new_text=text.replace(old, "This paragraph was rewritten by an editor on a Tuesday."),
    )
    await settled(worker, chapter)
    edit_s = time.perf_counter() - t0
    reembedded = worker.embedder.embedded - embedded
    say(f"one-paragraph edit: {reembedded} chunks re-embedded, searchable in {edit_s:.2f} s")
    return {
        "edit_reembedded_chunks": reembedded,
        "edit_document_pages": sizes.edit_pages,
        "edit_document_chunks": before.chunks,
        "edit_to_searchable_s": round(edit_s, 2),
        "long_pdf_to_searchable_s": round(ingest_s, 2),
    }


async def _reingest(worker: ReadSide, chapter: str) -> dict[str, Any]:
    """Rebuild the vectors of the mixed chapter (a version bump) through a fresh cache counter."""
    live = await worker.vectors.digest(chapter)
    counting = CachedEmbedder(worker.embedder.embedder, worker.cache)
    rebuilt = Vectors(worker.views, worker.blobs, worker.index, counting)
    rebuilt.version = Vectors.version + 1  # type: ignore[misc]
    runner = Runner(LogSource(worker.logs), [rebuilt])
    head = (await worker.logs.chapter(chapter).head()).rev
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(600):
            await runner.wait(chapter, head)
    finally:
        await runner.stop()
    seconds = time.perf_counter() - t0
    looked_up = counting.hits + counting.embedded
    rate = counting.hits / looked_up if looked_up else 0.0
    say(
        f"re-ingest (vectors rebuilt): {counting.hits}/{looked_up} from the cache in {seconds:.1f} s"
    )
    return {
        "reingest_cache_hit_rate": round(rate, 4),
        "reingest_chunks": looked_up,
        "reingest_s": round(seconds, 2),
        "reingest_digest_equal": await rebuilt.digest(chapter) == live,
    }


async def bench_search(
    sizes: Sizes, rng: random.Random, embedder: LocalEmbedder, tmp: Path, deadline: float
) -> dict[str, Any]:
    namespace = "bench" + new_id()[-8:]
    texts = [paragraph(rng) for _ in range(sizes.search_texts)]
    bases = embedder.embed_sync(texts)
    noise = np.random.default_rng(11)
    index = ChromaIndex.embedded(tmp / "search-chroma")
    views = await Views.open(tmp / "search-views.sqlite3")
    cache = await EmbeddingCache.open(tmp / "search-embeddings.sqlite3")
    vectors = Vectors(
        views, LocalBlobStore(tmp / "search-blobs"), index, CachedEmbedder(embedder, cache)
    )
    try:
        loaded, t0 = 0, time.perf_counter()
        while loaded < sizes.search_chunks:
            batch = min(sizes.load_batch, sizes.search_chunks - loaded)
            if (
                loaded
                and time.perf_counter() + (time.perf_counter() - t0) / loaded * batch > deadline
            ):
                say(f"search index: stopping the load at {loaded:,} records (time limit)")
                break
            await index.upsert(namespace, _records(namespace, loaded, batch, texts, bases, noise))
            loaded += batch
            say(f"search index: {loaded:,} records ({loaded / (time.perf_counter() - t0):,.0f}/s)")
        load_s = time.perf_counter() - t0
        # The projection filters tags by source from its own state: record what folding these
        # sources' events would have recorded (their tags), as the index was filled directly.
        await vectors.open()
        async with views.transaction() as db:
            await db.executemany(
                "INSERT OR REPLACE INTO vectors_sources (chapter, source, name, tags, text_blob, chunks) "
                "VALUES (?, ?, ?, ?, NULL, '[]')",
                [
                    (
                        namespace,
                        f"s{s:07d}",
                        f"s{s:07d}.txt",
                        json.dumps(["flagged"]) if _flagged(s) else "[]",
                    )
                    for s in range((loaded + 2) // 3)
                ],
            )
        queries = [sentence(rng, 8) for _ in range(sizes.search_queries)]
        for q in queries[:5]:  # warm up
            await vectors.search(namespace, q, k=8)
        plain = await _timed(lambda q: vectors.search(namespace, q, k=8), queries)
        tagged = await _timed(
            lambda q: vectors.search(namespace, q, k=8, tags=["flagged"]), queries
        )
        query_vectors = [v.tolist() for v in embedder.embed_sync(queries)]
        index_only = await _timed(lambda v: index.query(namespace, v, 8), query_vectors)
        hits = await vectors.search(namespace, queries[0], k=8, tags=["flagged"])
        assert hits and all(h.chunk.startswith("f") for h in hits), "the tag filter let others in"
    finally:
        await cache.close()
        await views.close()
        await index.close()
    say(
        f"search at {loaded:,} chunks: p50 {percentile_ms(plain, 50)} ms, filtered p50 {percentile_ms(tagged, 50)} ms"
    )
    return {
        "search_chunks": loaded,
        "search_chunks_target": sizes.search_chunks,
        "search_corpus": (
            f"{loaded} synthetic vectors: {len(texts)} distinct ~700-character texts embedded "
            "with the local model, each repeated with small Gaussian perturbations "
            "(sigma 0.01 per dimension, renormalised); real chunk metadata and documents; "
            "10% of the sources (3 chunks each) tagged 'flagged' independently of their texts; latency = Vectors.search (embed the query + index query), k=8"
        ),
        "search_load_s": round(load_s, 1),
        "search_load_records_per_s": round(loaded / load_s, 1),
        "search_p50_ms": percentile_ms(plain, 50),
        "search_p99_ms": percentile_ms(plain, 99),
        "search_filtered_p50_ms": percentile_ms(tagged, 50),
        "search_filtered_p99_ms": percentile_ms(tagged, 99),
        "search_index_only_p50_ms": percentile_ms(index_only, 50),
        "search_index_only_p99_ms": percentile_ms(index_only, 99),
    }


def _flagged(source: int) -> bool:
    """One source in ten is tagged, picked by a hash so that tags do not follow the texts."""
    return source * 2654435761 % 4096 < 410


def _records(
    namespace: str, first: int, count: int, texts: list[str], bases: np.ndarray, noise: Any
) -> list[VectorRecord]:
    rows = np.arange(first, first + count)
    vectors = bases[rows % len(texts)] + noise.normal(0.0, 0.01, (count, bases.shape[1]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = []
    for row, vector in zip(rows.tolist(), vectors.astype(np.float32).tolist(), strict=True):
        flagged = _flagged(row // 3)
        chunk = ("f" if flagged else "0") + f"{row:063x}"
        text = texts[row % len(texts)]
        source = f"s{row // 3:07d}"
        records.append(
            VectorRecord(
                id=f"{source}:{chunk}",
                vector=vector,
                metadata=chunk_metadata(
                    chapter=namespace,
                    source=source,
                    rev=row // 3 + 1,
                    tags=["flagged"] if flagged else [],
                    extra={
                        "chunk": chunk,
                        "start": 0,
                        "end": len(text),
                        "source_name": f"{source}.txt",
                    },
                ),
                document=text,
            )
        )
    return records


async def _timed(call: Callable[[Any], Awaitable[object]], args: list[Any]) -> list[float]:
    seconds = []
    for arg in args:
        t0 = time.perf_counter()
        await call(arg)
        seconds.append(time.perf_counter() - t0)
    return seconds


async def run(sizes: Sizes, *, quick: bool) -> dict[str, Any]:
    started = time.perf_counter()
    rng = random.Random(2024)
    figures: dict[str, Any] = {"benchmark": "ingest", "quick": quick, "machine": machine()}
    embedder = LocalEmbedder()
    with tempfile.TemporaryDirectory(prefix="ragstack-bench-ingest-") as name:
        tmp = Path(name)
        figures |= bench_extraction(sizes, rng)
        figures |= bench_embedder(sizes, rng, embedder)
        figures |= await bench_pipeline(sizes, rng, embedder, tmp)
        # Room after the load for the queries (filtered ones took 150-250 ms each at 100k on
        # a busy machine) and for removing the temporary index.
        deadline = started + TIME_LIMIT_S - 75
        figures |= await bench_search(sizes, rng, embedder, tmp, deadline)
    figures["peak_rss_mb"] = peak_rss_mb()
    bars = {
        "reingest_cache_hit_rate_100pct": figures["reingest_cache_hit_rate"] == 1.0,
        "search_p50_le_20ms": figures["search_p50_ms"] <= 20,
        "search_p99_le_50ms": figures["search_p99_ms"] <= 50,
        "search_filtered_p50_le_20ms": figures["search_filtered_p50_ms"] <= 20,
        "search_filtered_p99_le_50ms": figures["search_filtered_p99_ms"] <= 50,
        "edit_reembedded_le_3": figures["edit_reembedded_chunks"] <= 3,
        "search_at_100k": figures["search_chunks"] >= 100_000,
    }
    return finished(figures, sizes, bars)


def main(argv: list[str] | None = None) -> None:
    args = bench_parser(__doc__).parse_args(argv)
    done(asyncio.run(run(QUICK if args.quick else FULL, quick=args.quick)))


if __name__ == "__main__":
    main()
