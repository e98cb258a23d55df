"""The read side over real logs: sources in, extracted, chunked, embedded, searchable."""

import asyncio

import pytest

from engine.sources import add_source, edit_source, remove_source, retag_source
from events import SourceAdded, SourceExtracted, SourceRejected
from tests.projections.formats.corpus import (
    binary_junk,
    good_corpus,
    make_pdf,
    make_png,
    make_zip_bomb_docx,
    require_tools_of,
    rewrite_pdf,
)
from tests.projections.pipeline_support import (
    BACKENDS,
    WORDS,
    add_text,
    add_texts_at_once,
    new_chapter,
    open_test_worker,
    results,
    settle,
)


async def test_every_high_format_is_ingested_and_its_sentence_found_by_search(worker, books):
    chapter = await new_chapter(books)
    # Add one real file of every format, each carrying a known sentence.
    corpus = good_corpus()
    require_tools_of(corpus)
    ids = {}
    for sample in corpus:
        body = await add_source(
            worker.logs.chapter(chapter),
            worker.blobs,
            actor="u-owner",
            name=sample.name,
            data=sample.data,
            media_type=sample.media_type,
        )
        ids[body.source] = sample
    await settle(worker, chapter)
    sources = {s.id: s for s in await worker.catalogue.sources(chapter)}
    rejected = {s.name: s.reason for s in sources.values() if s.status != "extracted"}
    assert not rejected, rejected
    # Each sentence is found by search, from its own file, with the page where it has one.
    # (The code samples share one sentence pattern, so the right file must be among the top 5.)
    for source, sample in ids.items():
        hits = await worker.vectors.search(chapter, sample.sentence, k=5)
        mine = [h for h in hits if h.source == source]
        assert mine, (sample.name, [h.source_name for h in hits])
        assert sample.sentence in " ".join(mine[0].text.split()), sample.name
        if sample.page is not None:
            assert mine[0].span.page == sample.page, sample.name
        if sample.heading is not None:
            assert mine[0].span.heading == sample.heading, sample.name


async def test_bad_input_is_rejected_clearly_and_the_chapter_goes_on(worker, books):
    chapter = await new_chapter(books)
    pdf = make_pdf([["Quarterly numbers went up by four percent."]])
    bad = {
        "truncated.pdf": pdf[: len(pdf) // 2],
        "encrypted.pdf": rewrite_pdf(pdf, user_password="secret"),
        "holiday.docx": make_png(),
        "bomb.docx": make_zip_bomb_docx(1),
        "empty.txt": b"",
        "junk.txt": binary_junk(),
    }
    for name, data in bad.items():
        await add_source(
            worker.logs.chapter(chapter), worker.blobs, actor="u", name=name, data=data
        )
    good = await add_text(
        worker.logs, worker.blobs, chapter, "ok.md", "# Fine\n\nThe owls are fine."
    )
    await settle(worker, chapter)

    by_name = {s.name: s for s in await worker.catalogue.sources(chapter)}
    for name in bad:
        assert by_name[name].status == "rejected", name
        assert by_name[name].reason and name in by_name[name].reason, by_name[name].reason
    assert by_name["encrypted.pdf"].code == "encrypted"
    assert by_name["bomb.docx"].code in ("too_large", "corrupt")
    assert by_name["empty.txt"].code == "empty"
    assert by_name["ok.md"].status == "extracted"
    # The blobs of rejected sources stay, and the good source is searchable.
    for name in bad:
        assert await worker.blobs.exists(by_name[name].blob)
    hits = await worker.vectors.search(chapter, "Are the owls fine?", k=1)
    assert hits[0].source == good


def long_document(paragraphs: int = 300) -> list[str]:
    """Paragraphs of distinct prose from the first nine WORDS (about 300 kB for 300 paragraphs)."""
    out = []
    for i in range(paragraphs):
        sentence = " ".join(WORDS[(i * 7 + j) % 9] for j in range(12))
        out.append(f"Paragraph {i} tells of the {sentence}. " * 8)
    return out


async def test_editing_one_paragraph_reembeds_at_most_three_chunks(worker, books):
    chapter = await new_chapter(books)
    paragraphs = long_document()
    source = await add_text(worker.logs, worker.blobs, chapter, "long.txt", "\n\n".join(paragraphs))
    await settle(worker, chapter)
    before = await worker.catalogue.source(chapter, source)
    assert before is not None and before.chunks > 100

    # Rewrite one paragraph in the middle.
    paragraphs[150] = "This paragraph was rewritten entirely by an editor on a Tuesday."
    embedded = worker.embedder.embedded
    await edit_source(
        worker.logs.chapter(chapter),
        worker.blobs,
        actor="u-owner",
        source=source,
        base_text=before.text_blob,
        new_text="\n\n".join(paragraphs),
    )
    await settle(worker, chapter)
    assert 1 <= worker.embedder.embedded - embedded <= 3
    hits = await worker.vectors.search(chapter, "rewritten by an editor on a Tuesday", k=1)
    assert "Tuesday" in hits[0].text


@pytest.mark.parametrize("backend", BACKENDS)
async def test_retag_filters_search_and_remove_drops_the_source(worker, books):
    chapter = await new_chapter(books)
    cats = await add_text(worker.logs, worker.blobs, chapter, "cats.txt", "Cats sleep all day.")
    dogs = await add_text(worker.logs, worker.blobs, chapter, "dogs.txt", "Dogs sleep at night.")
    await retag_source(worker.logs.chapter(chapter), actor="u", source=dogs, tags=["canine"])
    await settle(worker, chapter)
    hits = await worker.vectors.search(chapter, "When do animals sleep?", k=5, tags=["canine"])
    assert [h.source for h in hits] == [dogs]
    await remove_source(worker.logs.chapter(chapter), actor="u", source=cats)
    await settle(worker, chapter)
    hits = await worker.vectors.search(chapter, "When do animals sleep?", k=5)
    assert [h.source for h in hits] == [dogs]
    assert (await worker.catalogue.source(chapter, cats)).status == "removed"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_rebuild_from_rev_one_equals_the_live_read_models(
    worker, books, tmp_path, logs, blobs, local_embedder, other_views_url
):
    chapter = await new_chapter(books)
    for i in range(5):
        await add_text(worker.logs, worker.blobs, chapter, f"n{i}.md", f"# Note {i}\n\nFact {i}.")
    await add_source(worker.logs.chapter(chapter), blobs, actor="u", name="x.txt", data=b"")
    await settle(worker, chapter)
    # A second worker with empty read models folds the same log from rev 1.
    rebuilt = await open_test_worker(
        tmp_path / "rebuilt", logs, blobs, local_embedder, views=other_views_url
    )
    await rebuilt.runner.start(discover=False)
    try:
        rebuilt.runner.watch(chapter)
        await settle(rebuilt, chapter)
        assert await rebuilt.catalogue.digest(chapter) == await worker.catalogue.digest(chapter)
        assert await rebuilt.vectors.digest(chapter) == await worker.vectors.digest(chapter)
        assert await rebuilt.trees.digest(chapter) == await worker.trees.digest(chapter)
        # The rebuild appended no facts of its own: each source has exactly one result.
        results = [
            r.envelope.body
            async for r in logs.chapter(chapter).read()
            if isinstance(r.envelope.body, SourceExtracted | SourceRejected)
        ]
        assert len(results) == 6
    finally:
        await rebuilt.close()


async def test_a_second_worker_extracting_the_same_sources_stores_no_second_result(
    worker, books, tmp_path, logs, blobs, local_embedder
):
    # What leases prevent, but a worker stalled past its lease can still do for a moment: extract
    # sources the chapter's new holder extracted already. The results share message ids, so each
    # is stored once.
    chapter = await new_chapter(books)
    log = logs.chapter(chapter)
    await add_texts_at_once(log, blobs, {f"n{i}.md": f"# Note {i}\n\nFact {i}." for i in range(3)})
    await settle(worker, chapter)
    stale = await open_test_worker(tmp_path / "stale", logs, blobs, local_embedder)
    try:
        # The stale worker folded the additions but not yet the results: all three pending.
        added = [r.envelope async for r in log.read() if isinstance(r.envelope.body, SourceAdded)]
        first = [r.envelope async for r in log.read() if r.rev < added[0].rev]
        await stale.ingest.apply(chapter, [*first, *added])
        assert len(await stale.ingest.pending(chapter)) == 3
        head = (await log.head()).rev
        await stale.ingest.idle(chapter)
        assert (await log.head()).rev == head
        assert sorted((await results(log)).values()) == [1] * 3
    finally:
        await stale.close()


async def test_the_runner_discovers_new_chapters_from_book_logs(worker, books):
    chapter = await new_chapter(books)
    await add_text(worker.logs, worker.blobs, chapter, "found.txt", "Discovered by the runner.")
    async with asyncio.timeout(30):
        while not (s := await worker.catalogue.sources(chapter)) or s[0].status != "extracted":
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_fold_cancelled_mid_transaction_leaves_the_views_usable(views):
    await views.script("CREATE TABLE t (x INTEGER)")
    # Cancel transactions at every point: before BEGIN completes, inside, before COMMIT.
    for delay in (0, 0.0005, 0.001, 0.002, 0.005):

        async def write() -> None:
            async with views.transaction() as db:
                await db.execute("INSERT INTO t VALUES (1)")
                await asyncio.sleep(0.01)

        task = asyncio.create_task(write())
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # The writer is not stuck inside a transaction, and nothing half-written is visible.
    async with views.transaction() as db:
        await db.execute("INSERT INTO t VALUES (2)")
    assert await views.fetchall("SELECT x FROM t") == [(2,)]


async def test_a_rare_tag_is_found_beyond_the_nearest_neighbours(worker, books):
    # Over 400 chunks of one story, and one short tagged note about something else: the tagged
    # note is not among the query's nearest neighbours, so the engine's own filter must find it.
    chapter = await new_chapter(books)
    story = "\n\n".join(long_document(450))
    await add_text(worker.logs, worker.blobs, chapter, "story.txt", story)
    note = await add_text(worker.logs, worker.blobs, chapter, "note.txt", "Buy oat milk.")
    await retag_source(worker.logs.chapter(chapter), actor="u", source=note, tags=["todo"])
    await settle(worker, chapter, timeout=300)
    assert (await worker.catalogue.source(chapter, note)).tags == ["todo"]
    assert (await worker.index.count(chapter)) > 400
    hits = await worker.vectors.search(chapter, "lantern harvest meadow", k=3, tags=["todo"])
    assert [h.source for h in hits] == [note]
    assert hits[0].text == "Buy oat milk."


async def test_a_stale_tag_share_widens_the_window_and_loses_no_hit(worker, books):
    # Every note tagged: the first search learns that all neighbours pass and narrows the next
    # window. Then most notes lose the tag, so that narrow window holds too few of them.
    chapter = await new_chapter(books)
    notes = [
        await add_text(worker.logs, worker.blobs, chapter, f"n{i}.txt", f"Note {i} on topic {i}.")
        for i in range(40)
    ]
    for note in notes:
        await retag_source(worker.logs.chapter(chapter), actor="u", source=note, tags=["t"])
    await settle(worker, chapter)
    assert len(await worker.vectors.search(chapter, "topic", k=3, tags=["t"])) == 3
    for note in notes[:-4]:
        await retag_source(worker.logs.chapter(chapter), actor="u", source=note, tags=["old"])
    await settle(worker, chapter)
    hits = await worker.vectors.search(chapter, "topic", k=3, tags=["t"])
    assert len(hits) == 3 and {h.source for h in hits} <= set(notes[-4:])
    # Any of several tags: both kinds are found.
    both = await worker.vectors.search(chapter, "topic", k=40, tags=["t", "old"])
    assert {h.source for h in both} == set(notes)


class CountingEmbedder:
    """The real local embedder, counting the calls it gets."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.model = embedder.model
        self.dim = embedder.dim
        self.calls: list[int] = []

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return await self.embedder.embed(texts)


async def test_a_batch_of_many_sources_is_embedded_in_few_calls(
    worker, books, tmp_path, logs, blobs, local_embedder
):
    chapter = await new_chapter(books)
    for i in range(40):
        await add_text(worker.logs, worker.blobs, chapter, f"n{i}.txt", f"Fact number {i}.")
    await settle(worker, chapter)
    # A rebuild folds the 40 extracted sources in one or two batches: a call per batch, not
    # one per source, and the same index as the live one.
    counting = CountingEmbedder(local_embedder)
    rebuilt = await open_test_worker(tmp_path / "rebuilt", logs, blobs, counting)
    await rebuilt.runner.start(discover=False)
    try:
        rebuilt.runner.watch(chapter)
        await settle(rebuilt, chapter)
        assert sum(counting.calls) == 40
        assert len(counting.calls) <= 3, counting.calls
        assert await rebuilt.vectors.digest(chapter) == await worker.vectors.digest(chapter)
    finally:
        await rebuilt.close()
