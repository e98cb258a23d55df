"""A chapter's vectors come from one embedder: the vectors projection records the embedder's
identity (`model`, the local model's precision included) and rebuilds a chapter folded with
another one, re-embedding it, instead of mixing two models' vectors in one index."""

from tests.projections.pipeline_support import add_text, new_chapter, open_test_worker, settle

OWLS = (
    "Barn owls hunt at night over open fields. Their facial discs gather sound, so they can "
    "find a vole under snow by hearing alone."
)
BEES = (
    "Honey bees tell each other where flowers are with a waggle dance; its angle to the vertical "
    "is the direction to the food relative to the sun."
)


async def _exact_score(worker, chapter: str, text: str) -> float:
    """The cosine of a chunk's own text, searched: 1 only if the index holds this model's vector."""
    (hit,) = await worker.vectors.search(chapter, text, k=1, mode="vector")
    assert hit.text == text
    return hit.score


async def test_a_chapter_folded_with_fp32_is_re_embedded_when_the_embedder_becomes_int8(
    tmp_path, logs, blobs, books, local_embedder, local_embedder_int8
):
    first = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder)
    await first.runner.start()
    try:
        chapter = await new_chapter(books)
        await add_text(logs, blobs, chapter, "owls.md", OWLS)
        await add_text(logs, blobs, chapter, "bees.md", BEES)
        await settle(first, chapter)
        assert await _exact_score(first, chapter, OWLS) > 0.99999
        head = (await logs.chapter(chapter).head()).rev
        assert await first.vectors.load_checkpoint(chapter) == (head, first.vectors.version)
    finally:
        await first.close()

    second = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder_int8)
    try:
        # Before folding: the checkpoint reads as outdated, so the runner rebuilds the chapter.
        assert await second.vectors.load_checkpoint(chapter) == (head, 0)
        await second.runner.start(discover=False)
        second.runner.watch(chapter)
        await settle(second, chapter)
        assert await second.vectors.load_checkpoint(chapter) == (head, second.vectors.version)
        assert second.embedder.embedded == 2  # both chunks embedded again, by int8
        for text in (OWLS, BEES):
            # An fp32 vector left in the index would score about 0.99 against the int8 query.
            assert await _exact_score(second, chapter, text) > 0.99999
        row = await second.views.fetchone(
            "SELECT model FROM vectors_models WHERE chapter = ?", (chapter,)
        )
        assert row == ("local:all-MiniLM-L6-v2@int8",)
    finally:
        await second.close()


async def test_a_chapter_from_a_release_that_did_not_record_the_model_is_rebuilt(
    tmp_path, logs, blobs, books, local_embedder
):
    first = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder)
    await first.runner.start()
    try:
        chapter = await new_chapter(books)
        await add_text(logs, blobs, chapter, "owls.md", OWLS)
        await settle(first, chapter)
        head = (await logs.chapter(chapter).head()).rev
        async with first.views.transaction() as db:  # as an older release left it
            await db.execute("DELETE FROM vectors_models WHERE chapter = ?", (chapter,))
        assert await first.vectors.load_checkpoint(chapter) == (head, 0)
    finally:
        await first.close()

    second = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder)
    try:
        await second.runner.start(discover=False)
        second.runner.watch(chapter)
        await settle(second, chapter)
        assert await second.vectors.load_checkpoint(chapter) == (head, second.vectors.version)
        assert second.embedder.embedded == 0  # the same model: the cache answers the rebuild
        assert await _exact_score(second, chapter, OWLS) > 0.99999
    finally:
        await second.close()
