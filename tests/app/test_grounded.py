"""Grounded answers over real logs and read models: an off-topic question is told the sources
don't cover it (and no model is asked), the extractive answer quotes the sentence that answers,
near-identical passages are cited once, and passages carry their neighbouring chunks."""

import pytest

from app.answers import NOT_COVERED_MODEL, NOT_COVERED_TEXT, split_sentences
from app.asking import Asked, ask, start_thread
from projections.providers import ProviderConfig, make_llm
from tests.fakes import FakeOpenAI
from tests.projections.pipeline_support import add_text, new_chapter, settle

HARBOUR = (
    "The harbour master keeps the tide tables in the east office. "
    "Fishing boats must be moored before the evening bell at seven. "
    "The lighthouse keeper, Agnes Thorvaldsen, replaces the lamp every March. "
    "Visitors may walk the breakwater when the sea is calm."
)


@pytest.fixture
async def chapter(worker, books):
    chapter = await new_chapter(books)
    await add_text(worker.logs, worker.blobs, chapter, "harbour.txt", HARBOUR)
    await settle(worker, chapter)
    return chapter


async def answer_of(worker, chapter, question, llm=None, rev=None) -> Asked:
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    final = None
    async for item in ask(
        worker, chapter=chapter, thread=thread.id, question=question, actor="u-owner", llm=llm,
        rev=rev,
    ):  # fmt: skip
        if isinstance(item, Asked):
            final = item
    assert final is not None
    return final


async def test_an_off_topic_question_is_told_the_sources_do_not_cover_it(worker, chapter):
    answer = await answer_of(worker, chapter, "How do I bake sourdough bread with rye flour?")
    assert answer.text == NOT_COVERED_TEXT
    assert answer.citations == [] and answer.model == NOT_COVERED_MODEL
    # With a language model too: it is not asked at all, so it cannot invent an answer.
    with FakeOpenAI(answer="Knead the dough for ten minutes [1].") as fake:
        llm = make_llm(
            ProviderConfig(kind="openai", model="m", base_url=fake.base_url, api_key=fake.api_key)
        )
        try:
            answer = await answer_of(worker, chapter, "What is the capital of Peru?", llm=llm)
        finally:
            await llm.aclose()
        assert fake.requests == []
    assert answer.text == NOT_COVERED_TEXT and answer.citations == []
    # An on-topic question is answered as before.
    answered = await answer_of(worker, chapter, "When must fishing boats be moored?")
    assert answered.model == "extractive" and answered.citations


async def test_as_of_a_rev_an_off_topic_question_is_told_the_sources_do_not_cover_it(
    worker, chapter
):
    # Hybrid search (the default) as of a past rev measures coverage as it does now.
    then = (await worker.logs.chapter(chapter).head()).rev
    await add_text(worker.logs, worker.blobs, chapter, "bread.txt", "Rye sourdough needs time.")
    await settle(worker, chapter)
    off = await answer_of(worker, chapter, "How do I bake sourdough bread?", rev=then)
    assert off.text == NOT_COVERED_TEXT and off.citations == []
    on = await answer_of(worker, chapter, "When must fishing boats be moored?", rev=then)
    assert on.model == "extractive" and on.citations


async def test_a_name_looked_up_is_covered_whatever_its_cosine(worker, chapter):
    # No passage reaches this threshold by meaning; the rare word found makes the lookup count.
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    asked = [
        item
        async for item in ask(
            worker, chapter=chapter, thread=thread.id, actor="u-owner", llm=None,
            question="Which passage mentions Thorvaldsen?", min_similarity=0.99,
        )
        if isinstance(item, Asked)
    ]  # fmt: skip
    assert asked[0].model == "extractive" and "Agnes Thorvaldsen" in asked[0].text
    off = [
        item
        async for item in ask(
            worker, chapter=chapter, thread=thread.id, actor="u-owner", llm=None,
            question="Which passage mentions Middlemarch?", min_similarity=0.99,
        )
        if isinstance(item, Asked)
    ]  # fmt: skip
    assert off[0].text == NOT_COVERED_TEXT


async def test_the_extractive_answer_quotes_the_answering_sentence(worker, chapter):
    answer = await answer_of(worker, chapter, "Who replaces the lighthouse lamp?")
    assert "“The lighthouse keeper, Agnes Thorvaldsen, replaces the lamp every March.” [1]" in (
        answer.text
    )
    # The passage's other sentences are not quoted: they do not answer.
    assert "tide tables" not in answer.text and "breakwater" not in answer.text
    assert answer.citations[0].source_name == "harbour.txt"


async def test_near_identical_passages_are_cited_once(worker, books):
    chapter = await new_chapter(books)
    await add_text(worker.logs, worker.blobs, chapter, "a.txt", HARBOUR)
    await add_text(worker.logs, worker.blobs, chapter, "b.txt", HARBOUR.replace("seven", "7"))
    await settle(worker, chapter)
    answer = await answer_of(worker, chapter, "Who replaces the lighthouse lamp?")
    assert len(answer.citations) == 1


async def test_a_passage_brings_its_neighbouring_chunks(worker, books):
    chapter = await new_chapter(books)
    paragraphs = [
        f"Section {n}. " + " ".join(f"Line {n}.{i} of the ledger is filed." for i in range(30))
        for n in range(6)
    ]
    paragraphs[3] += " The vault combination is kept by Inspector Quispe."
    await add_text(worker.logs, worker.blobs, chapter, "ledger.txt", "\n\n".join(paragraphs))
    await settle(worker, chapter)
    hits = await worker.vectors.search(chapter, "Inspector Quispe vault", k=1, mode="hybrid")
    (wide,) = await worker.vectors.expand(chapter, hits)
    assert wide.chunk == hits[0].chunk
    assert wide.span.start < hits[0].span.start or wide.span.end > hits[0].span.end
    assert hits[0].text in wide.text and len(wide.text) > len(hits[0].text)


def test_sentences_split_at_their_ends_and_paragraphs():
    assert split_sentences("One. Two!\n\nThree? 4 is (e.g. four) here.") == [
        "One.", "Two!", "Three?", "4 is (e.g. four) here.",
    ]  # fmt: skip
