"""Follow-up questions rewritten into a standalone query (app/rewriting.py), over real logs and
read models, with the OpenAI-wire fake as the book's model: the query is recorded with the
answer and is what retrieval searched; a first question is searched as asked; a failing model
leaves the question as the query and still answers."""

import pytest

from app.asking import Asked, ask, start_thread
from app.rewriting import REWRITE_MAX_TOKENS, REWRITE_PROMPT, standalone_query
from events import MessagePosted
from projections.providers import ChatMessage, ProviderConfig, Usage, make_llm
from tests.fakes import FakeOpenAI
from tests.fakes.base import pieces, prompt_tokens
from tests.projections.pipeline_support import add_text, new_chapter, settle

OWLS = "The snowy owl nests on the open tundra of the Arctic and hunts lemmings at dusk."
REWRITTEN = 'Query: "honey bee waggle dance"'
"""The model's rewrite of the follow-up (labelled and quoted, as models answer)."""
BEES = "Honey bees perform a waggle dance to tell their sisters where the flowers are."


@pytest.fixture
async def chapter(worker, books):
    chapter = await new_chapter(books)
    await add_text(worker.logs, worker.blobs, chapter, "owls.md", OWLS)
    await add_text(worker.logs, worker.blobs, chapter, "bees.md", BEES)
    await settle(worker, chapter)
    return chapter


async def _ask(worker, chapter, thread, question, llm) -> Asked:
    final = None
    async for item in ask(
        worker, chapter=chapter, thread=thread, question=question, actor="u-owner", llm=llm
    ):
        if isinstance(item, Asked):
            final = item
    assert final is not None
    return final


async def _recorded(worker, chapter, message: str) -> MessagePosted:
    async for r in worker.logs.chapter(chapter).read():
        body = r.envelope.body
        if isinstance(body, MessagePosted) and body.message == message:
            return body
    raise AssertionError(f"no message {message}")


async def test_a_follow_up_is_rewritten_by_the_model_recorded_and_searched(worker, chapter):
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    with FakeOpenAI(answer="It nests on the tundra [1].") as fake:
        llm = make_llm(
            ProviderConfig(kind="openai", model="m", base_url=fake.base_url, api_key=fake.api_key)
        )
        first = await _ask(worker, chapter, thread.id, "Where does the snowy owl nest?", llm)
        # A first question: one request, the answer's; the query is the question.
        assert len(fake.requests_to("/chat/completions")) == 1
        fake.answers = [REWRITTEN, "They dance [1]."]
        second = await _ask(worker, chapter, thread.id, "And what do they hunt?", llm)
        rewrite, answer = fake.requests_to("/chat/completions")[1:]
        await llm.aclose()

    assert first.query == "Where does the snowy owl nest?"
    assert (await _recorded(worker, chapter, first.id)).query == first.query
    sent = rewrite.body["messages"]
    assert sent[0] == {"role": "system", "content": REWRITE_PROMPT}
    assert "User: Where does the snowy owl nest?" in sent[1]["content"]
    assert "Assistant: It nests on the tundra [1]." in sent[1]["content"]
    assert "Follow-up question: And what do they hunt?" in sent[1]["content"]
    assert rewrite.body["max_tokens"] == REWRITE_MAX_TOKENS or (
        rewrite.body.get("max_completion_tokens") == REWRITE_MAX_TOKENS
    )
    # The answerer is asked the question itself, with the thread's turns.
    assert answer.body["messages"][-1] == {"role": "user", "content": "And what do they hunt?"}
    # Recorded, unlabelled and unquoted, and searched: "they hunt" alone would find the owls
    # (the only text with "hunts"); the rewritten query finds the bees first.
    assert second.query == "honey bee waggle dance"
    assert (await _recorded(worker, chapter, second.id)).query == "honey bee waggle dance"
    assert second.citations[0].source_name == "bees.md"
    # The answer's usage counts both calls: the rewrite's tokens are the book model's work too.
    assert second.usage is not None
    assert second.usage.prompt == sum(prompt_tokens(r.body["messages"]) for r in (rewrite, answer))
    assert second.usage.completion == len(pieces(REWRITTEN)) + len(pieces("They dance [1]."))
    assert (await _recorded(worker, chapter, second.id)).usage == second.usage


async def test_a_failing_model_leaves_the_question_as_the_query_and_still_answers(worker, chapter):
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    with FakeOpenAI(answer="It hunts lemmings [1].") as fake:
        llm = make_llm(
            ProviderConfig(kind="openai", model="m", base_url=fake.base_url, api_key=fake.api_key)
        )
        await _ask(worker, chapter, thread.id, "Where does the snowy owl nest?", llm)
        fake.fail_next(400)  # the rewrite request is refused (not retried); the answer is not
        second = await _ask(worker, chapter, thread.id, "And what do they hunt?", llm)
        await llm.aclose()
    assert second.query == "And what do they hunt?"
    assert second.text == "It hunts lemmings [1]."
    assert (await _recorded(worker, chapter, second.id)).query == "And what do they hunt?"


async def test_without_a_model_a_follow_up_borrows_the_previous_questions_terms(worker, chapter):
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    first = await _ask(worker, chapter, thread.id, "How do honey bees find flowers?", None)
    second = await _ask(worker, chapter, thread.id, "Why do they dance?", None)
    assert first.query == "How do honey bees find flowers?"
    assert second.query == "Why do they dance? honey bees find flowers"
    assert (await _recorded(worker, chapter, second.id)).query == second.query


async def test_the_rule_leaves_a_question_that_stands_alone():
    turns = [
        ChatMessage(role="user", content="Where does the snowy owl nest?"),
        ChatMessage(role="assistant", content="On the tundra."),
    ]
    standalone = "Which insects perform a waggle dance near flowers?"
    assert await standalone_query(standalone, turns, None) == (standalone, Usage())
    assert await standalone_query("And in winter?", turns, None) == (
        "And in winter? snowy owl nest",
        Usage(),
    )
    first = await standalone_query("Where is it?", [], None)  # a first question
    assert first == ("Where is it?", Usage())
