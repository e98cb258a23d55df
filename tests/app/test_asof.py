"""Search, ask and provenance as of a rev, over real logs, read models and the MiniLM embedder:
retired chunks stay searchable as of the revs they lived in, and an answer's retrieval runs again
at its rev to the same passages however the chapter changed since."""

import msgspec
import pytest

from app.asking import Asked, ask, start_thread
from app.asof import RevOutOfRange, search_as_of
from app.provenance import MessageNotFound, provenance
from engine.sources import edit_source, remove_source, retag_source
from events import MessagePosted
from projections.vectors import history_namespace
from tests.projections.pipeline_support import add_text, new_chapter, open_test_worker, settle

OWLS = (
    "# Owls\n\nThe snowy owl nests on the open tundra of the Arctic and hunts lemmings.\n\n"
    "# Barn owls\n\nBarn owls roost in old barns and church towers and hunt voles at night.\n"
)
BEES = "# Bees\n\nHoney bees dance to tell their sisters where the flowers are.\n"
MORE_OWLS = "# Owl notes\n\nA snowy owl was seen nesting on a tundra ridge in June.\n"
QUESTION = "Where does the snowy owl nest?"


async def answered(worker, chapter: str, thread: str, question: str = QUESTION) -> Asked:
    stream = ask(
        worker, chapter=chapter, thread=thread, question=question, actor="u-owner", llm=None
    )
    [final] = [item async for item in stream if isinstance(item, Asked)]
    return final


async def text_of(worker, chapter: str, source: str) -> str:
    view = await worker.catalogue.source(chapter, source)
    return view.text_blob


@pytest.fixture
async def chapter(worker, books):
    chapter = await new_chapter(books)
    await add_text(worker.logs, worker.blobs, chapter, "owls.md", OWLS)
    await add_text(worker.logs, worker.blobs, chapter, "bees.md", BEES)
    await settle(worker, chapter)
    return chapter


async def test_an_answer_re_runs_to_the_same_passages_after_the_chapter_changed(worker, chapter):
    log = worker.logs.chapter(chapter)
    sources = {s.name: s.id for s in await worker.catalogue.sources(chapter)}
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    answer = await answered(worker, chapter, thread.id)
    before = await search_as_of(worker, chapter, QUESTION, rev=answer.rev, k=8)

    # The answer recorded its query and retrieval configuration.
    [posted] = [
        r.envelope.body
        async for r in log.read()
        if isinstance(r.envelope.body, MessagePosted) and r.envelope.body.message == answer.id
    ]
    assert posted.query == QUESTION
    assert posted.retrieval is not None and posted.retrieval.k == 8
    assert posted.retrieval.embedder == worker.vectors.embedder.model
    assert posted.retrieval.index == worker.index.name

    # The chapter changes afterwards: the owls source goes, bees are edited, new owls arrive.
    await remove_source(log, actor="u-owner", source=sources["owls.md"])
    bees_text = await text_of(worker, chapter, sources["bees.md"])
    await edit_source(
        log, worker.blobs, actor="u-owner", source=sources["bees.md"], base_text=bees_text,
        new_text="# Bees\n\nBumble bees nest in the ground and buzz loudly.\n",
    )  # fmt: skip
    await add_text(worker.logs, worker.blobs, chapter, "more.md", MORE_OWLS)
    await settle(worker, chapter)

    # Now, the removed source is gone from search; as of the answer's rev it is all there.
    now = await worker.vectors.search(chapter, QUESTION, k=8)
    assert sources["owls.md"] not in {h.source for h in now}
    again = await search_as_of(worker, chapter, QUESTION, rev=answer.rev, k=8)
    assert [(h.source, h.chunk, h.text) for h in again] == [
        (h.source, h.chunk, h.text) for h in before
    ]
    # The retired chunks wait in the history namespace, with the revs they lived between.
    retired = [m async for _, m in worker.index.ids(history_namespace(chapter))]
    assert retired and all(m["removed_rev"] > m["added_rev"] for m in retired)

    found = await provenance(worker, chapter, thread.id, answer.id)
    assert found.same and found.compared == "passages"
    assert (found.answered_at_rev, found.query, found.query_recorded) == (
        answer.rev, QUESTION, True,
    )  # fmt: skip
    assert found.model == "extractive" and found.message_rev == answer.message_rev
    assert [(p.source, p.chunk) for p in found.citations] == [
        (c.source, c.chunk) for c in answer.citations
    ]
    assert all(p.verified for p in found.citations)
    assert "snowy owl" in found.citations[0].text
    assert [(h.source, h.chunk) for h in found.rerun] == [(h.source, h.chunk) for h in before]


async def test_search_as_of_a_rev_sees_the_tags_of_then(worker, chapter):
    log = worker.logs.chapter(chapter)
    sources = {s.name: s.id for s in await worker.catalogue.sources(chapter)}
    await retag_source(log, actor="u-owner", source=sources["owls.md"], tags=["birds"])
    tagged_at = (await log.head()).rev
    await retag_source(log, actor="u-owner", source=sources["owls.md"], tags=["fauna"])
    await settle(worker, chapter)

    then = await search_as_of(worker, chapter, QUESTION, rev=tagged_at, k=8, tags=["birds"])
    assert then and {h.source for h in then} == {sources["owls.md"]}
    assert await search_as_of(worker, chapter, QUESTION, rev=tagged_at, k=8, tags=["fauna"]) == []
    # Before anything was extracted, nothing was searchable.
    assert await search_as_of(worker, chapter, QUESTION, rev=1, k=8) == []
    head = (await log.head()).rev
    with pytest.raises(RevOutOfRange, match="past its head"):
        await search_as_of(worker, chapter, QUESTION, rev=head + 1, k=8)


async def test_asking_as_of_a_rev_answers_from_the_chapter_then(worker, chapter):
    log = worker.logs.chapter(chapter)
    sources = {s.name: s.id for s in await worker.catalogue.sources(chapter)}
    then = (await log.head()).rev
    await remove_source(log, actor="u-owner", source=sources["owls.md"])
    await settle(worker, chapter)
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")

    stream = ask(
        worker, chapter=chapter, thread=thread.id, question=QUESTION, actor="u-owner", llm=None,
        rev=then,
    )  # fmt: skip
    [answer] = [item async for item in stream if isinstance(item, Asked)]
    assert answer.rev == then
    assert sources["owls.md"] in {c.source for c in answer.citations}
    found = await provenance(worker, chapter, thread.id, answer.id)
    assert found.same and found.answered_at_rev == then

    with pytest.raises(MessageNotFound):
        await provenance(worker, chapter, thread.id, "01hzzzzzzzzzzzzzzzzzzzzzzz")


async def test_a_rebuild_of_the_vectors_embeds_nothing_again(
    tmp_path, logs, blobs, books, local_embedder
):
    # A version bump rebuilds every chapter's index from its log; the embedding cache answers
    # every chunk, retired ones included, so nothing is embedded twice and the index is the same.
    first = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder)
    await first.runner.start()
    try:
        chapter = await new_chapter(books)
        owls = await add_text(logs, blobs, chapter, "owls.md", OWLS)
        await add_text(logs, blobs, chapter, "bees.md", BEES)
        await settle(first, chapter)
        await remove_source(logs.chapter(chapter), actor="u-owner", source=owls)
        await settle(first, chapter)
        digest = await first.vectors.digest(chapter)
        head = (await logs.chapter(chapter).head()).rev
        async with first.views.transaction() as db:  # as a version-1 index would have left it
            await first.vectors._checkpoints.store(db, chapter, head, 1)
    finally:
        await first.close()

    second = await open_test_worker(tmp_path / "live", logs, blobs, local_embedder)
    try:
        await second.runner.start(discover=False)
        second.runner.watch(chapter)
        await settle(second, chapter)
        assert await second.vectors.digest(chapter) == digest
        assert second.embedder.embedded == 0
        checkpoint = await second.vectors.load_checkpoint(chapter)
        assert checkpoint == (head, second.vectors.version)
    finally:
        await second.close()


def test_old_answers_decode_without_the_new_fields():
    old = msgspec.msgpack.encode(
        {"type": "MessagePosted", "thread": "t", "message": "m", "role": "assistant", "text": "x"}
    )
    body = msgspec.msgpack.decode(old, type=MessagePosted)
    assert (body.retrieval, body.query) == (None, None)
