"""Reranking over real logs and read models, by a local server speaking the rerank wire shape:
an answer cites the passages in the service's order, the service saw the deeper retrieval, and
a failing service fails the question with the providers' error."""

import pytest

from app.asking import Asked, ask, start_thread
from app.readside import open_read_side
from app.settings import load_settings
from projections.providers.errors import ProviderUnavailable
from tests.fakes.rerank import FakeRerank
from tests.projections.pipeline_support import add_texts_at_once, new_chapter, settle

NOTES = {
    f"note-{n}.txt": f"Harbour note {n}. The tide office opened at {6 + n} o'clock. {extra}"
    for n, extra in enumerate(
        ["Gulls nest on the breakwater.", "The ferry to the island leaves at noon.",
         "Lamp oil is stored in the cellar.", "The ferry ticket office sells island passes."]
    )
}  # fmt: skip


@pytest.fixture
async def reranked_worker(tmp_path, logs, blobs, local_embedder):
    with FakeRerank() as fake:
        settings = load_settings(
            environ={},
            data_dir=str(tmp_path / "data"),
            llm={"kind": "extractive"},
            rerank={"kind": "cohere", "base_url": fake.base_url, "model": "rerank-test",
                    "api_key": fake.api_key, "depth": 4},
        )  # fmt: skip
        worker = await open_read_side(
            settings, logs, blobs, embedder=local_embedder, use_llm_settings=False
        )
        await worker.runner.start()
        try:
            yield worker, fake
        finally:
            await worker.close()


async def _ask(worker, chapter, question):
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    async for item in ask(
        worker, chapter=chapter, thread=thread.id, question=question, actor="u-owner", llm=None,
        k=1,
    ):  # fmt: skip
        if isinstance(item, Asked):
            return item
    raise AssertionError("no answer")


async def test_an_answer_cites_the_passage_the_service_ranks_first(reranked_worker, books):
    worker, fake = reranked_worker
    chapter = await new_chapter(books)
    added = await add_texts_at_once(worker.logs.chapter(chapter), worker.blobs, NOTES)
    await settle(worker, chapter)
    answer = await _ask(worker, chapter, "Where is the ferry ticket office for island passes?")
    # The fake ranks by shared words: note 3 holds the most of the question's.
    assert [c.source for c in answer.citations] == [added[3].source]
    (sent,) = fake.requests_to("/v2/rerank")
    assert len(sent.body["documents"]) == 4 and sent.body["top_n"] == 1
    assert sent.body["model"] == "rerank-test"


async def test_a_failing_service_fails_the_question(reranked_worker, books):
    worker, fake = reranked_worker
    chapter = await new_chapter(books)
    await add_texts_at_once(worker.logs.chapter(chapter), worker.blobs, NOTES)
    await settle(worker, chapter)
    fake.fail_next(503)
    with pytest.raises(ProviderUnavailable):
        await _ask(worker, chapter, "When does the ferry leave?")
