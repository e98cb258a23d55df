"""Hybrid retrieval over real logs: the FTS5 lexical index the vectors projection keeps beside the
vector index, fused with it; exact terms, tags, rebuilds, the upgrade backfill and `forget`. Most
run on PostgreSQL views (full-text search) too."""

import pytest

from engine.sources import remove_source, retag_source
from events import SourceDescribed, SourceMeta
from projections import lexical
from tests.projections.pipeline_support import (
    BACKENDS,
    add_texts_at_once,
    new_chapter,
    open_test_worker,
    settle,
)

# Service notes that differ only in their code, part number and technician: prose a
# sentence embedding reads as one meaning, as real maintenance logs do.
CODES = [f"E{4000 + 37 * n}" for n in range(24)]
PARTS = [f"PN-{7100 + 13 * n}-{chr(65 + n % 26)}" for n in range(24)]
SURNAMES = [
    "Okonkwo", "Vasquez", "Lindqvist", "Haraldsen", "Nakashima", "Oyelaran", "Brankovic",
    "Fitzgerald", "Castellanos", "Wojcik", "Abernathy", "Kowalczyk", "Szabo", "Ferreira",
    "Delacroix", "Mbeki", "Thorvaldsen", "Yilmaz", "Gallagher", "Papadopoulos", "Rasmussen",
    "Ivanova", "Moreau", "Quispe",
]  # fmt: skip
both = pytest.mark.parametrize("backend", BACKENDS)


def _note(n: int) -> str:
    return (
        f"Service note. The pump controller reported fault code {CODES[n]} after the pressure "
        f"dropped during the night shift. Technician {SURNAMES[n]} replaced the valve assembly, "
        f"part {PARTS[n]}, and the line was restarted without further alarms."
    )


async def _service_notes(worker, books) -> tuple[str, list[str]]:
    chapter = await new_chapter(books)
    added = await add_texts_at_once(
        worker.logs.chapter(chapter), worker.blobs, {f"note-{n}.txt": _note(n) for n in range(24)}
    )
    await settle(worker, chapter)
    return chapter, [a.source for a in added]


@both
async def test_exact_terms_are_found_by_hybrid_and_missed_by_vector_only(worker, books):
    chapter, sources = await _service_notes(worker, books)
    kinds = {
        "error code": (CODES, "fault {}"),
        "surname": (SURNAMES, "What did {} do?"),
        "part number": (PARTS, "part {}"),
    }
    for kind, (terms, template) in kinds.items():
        missed = []
        for n, term in enumerate(terms):
            query = template.format(term)
            hybrid = await worker.vectors.search(chapter, query, k=3, mode="hybrid")
            assert hybrid[0].source == sources[n], (kind, query)
            vector = await worker.vectors.search(chapter, query, k=1, mode="vector")
            if vector[0].source != sources[n]:
                missed.append(query)
        # Each kind has lookups that vectors alone get wrong (the prose is the same in every
        # note) and hybrid gets right, every one of them.
        assert len(missed) >= 3, (kind, missed)


@both
async def test_a_tag_filter_holds_on_the_lexical_side(worker, books):
    chapter, sources = await _service_notes(worker, books)
    log = worker.logs.chapter(chapter)
    await retag_source(log, actor="u", source=sources[3], tags=["audited"])
    await retag_source(log, actor="u", source=sources[9], tags=["audited"])
    await settle(worker, chapter)
    # The best match (note 5) is untagged: it must not come through on either side; "valve"
    # is in every note, so the tagged ones match too.
    for mode in ("lexical", "hybrid"):
        hits = await worker.vectors.search(
            chapter, f"valve {CODES[5]} {SURNAMES[5]}", k=10, mode=mode, tags=["audited"]
        )
        assert {h.source for h in hits} <= {sources[3], sources[9]}, mode
        assert hits, mode
    index = lexical.backend(worker.views)
    found = await index.search(worker.views, chapter, CODES[5], 5, sources=[sources[3]])
    assert found == []


@both
async def test_a_rebuild_yields_identical_rankings(
    worker, books, tmp_path, logs, blobs, local_embedder, other_views_url
):
    chapter, sources = await _service_notes(worker, books)
    await remove_source(worker.logs.chapter(chapter), actor="u", source=sources[0])
    await settle(worker, chapter)
    queries = ["pressure dropped at night", f"fault {CODES[4]}", "valve assembly Wojcik"]
    live = {
        (q, mode): [(h.source, h.chunk) for h in await worker.vectors.search(chapter, q, mode=mode)]
        for q in queries
        for mode in ("vector", "lexical", "hybrid")
    }
    rebuilt = await open_test_worker(
        tmp_path / "rebuilt", logs, blobs, local_embedder, views=other_views_url
    )
    await rebuilt.runner.start(discover=False)
    try:
        rebuilt.runner.watch(chapter)
        await settle(rebuilt, chapter)
        assert await rebuilt.vectors.digest(chapter) == await worker.vectors.digest(chapter)
        for (q, mode), ranked in live.items():
            again = await rebuilt.vectors.search(chapter, q, mode=mode)
            assert [(h.source, h.chunk) for h in again] == ranked, (q, mode)
        assert sources[0] not in {s for ranked in live.values() for s, _ in ranked}
    finally:
        await rebuilt.close()


@both
async def test_a_chapter_folded_before_the_lexical_index_gets_it_when_idle(worker, books):
    chapter, sources = await _service_notes(worker, books)
    index = lexical.backend(worker.views)
    before = await index.rows_of(worker.views, chapter)
    # What an older version left: the per-source state and vectors, no lexical index.
    async with worker.views.transaction() as db:
        await index.drop_chapter(db, chapter)
    assert await worker.vectors.search(chapter, CODES[2], mode="lexical") == []
    await worker.vectors.open()
    assert worker.vectors.lexical_progress() == (0, 1)
    await worker.vectors.idle(chapter)
    assert await index.rows_of(worker.views, chapter) == before
    assert worker.vectors.lexical_progress() == (1, 1)
    hits = await worker.vectors.search(chapter, CODES[2], mode="lexical")
    assert hits[0].source == sources[2]


@both
async def test_forget_removes_chunks_from_both_indexes_in_one_call(worker, books):
    chapter, sources = await _service_notes(worker, books)
    hit = (await worker.vectors.search(chapter, CODES[6], k=1, mode="lexical"))[0]
    await worker.vectors.forget(
        chapter, sources=[sources[8]], records=[f"{hit.source}:{hit.chunk}"]
    )
    for gone in (sources[6], sources[8]):
        n = sources.index(gone)
        for mode in ("vector", "lexical", "hybrid"):
            hits = await worker.vectors.search(
                chapter, f"{CODES[n]} {SURNAMES[n]}", k=30, mode=mode
            )
            assert gone not in {h.source for h in hits}, mode
    assert await worker.vectors.index.count(chapter) == 22
    assert len(await lexical.backend(worker.views).rows_of(worker.views, chapter)) == 22


async def test_lexical_hits_name_their_work_and_an_index_without_cite_is_rebuilt(worker, books):
    chapter, sources = await _service_notes(worker, books)
    meta = SourceMeta(title="Pump logs", authors=["Okafor, Ada"], year=2021)
    await worker.logs.chapter(chapter).append(
        SourceDescribed(source=sources[5], meta=meta), actor="u-owner"
    )
    await settle(worker, chapter)
    for mode in ("lexical", "hybrid"):
        hit = (await worker.vectors.search(chapter, f"part {PARTS[5]}", k=1, mode=mode))[0]
        assert (hit.source, hit.cite) == (sources[5], "Okafor (2021)"), mode
    assert (await worker.vectors.search(chapter, CODES[4], k=1, mode="lexical"))[0].cite == ""
    before = await lexical.rows_of(worker.views, chapter)
    # What a version before `cite` left: the same index without the column.
    table = lexical.table_of(chapter)
    async with worker.views.transaction() as db:
        await db.execute(f"ALTER TABLE {table} DROP COLUMN cite")
    await worker.vectors.open()
    assert not await lexical.exists(worker.views, chapter)
    assert worker.vectors.lexical_progress() == (0, 1)
    await worker.vectors.idle(chapter)
    assert await lexical.rows_of(worker.views, chapter) == before
