"""Asking a chapter over real logs, read models and fake provider servers: the question and the
answer land in the log (and only a whole answer does), citations name the passages, and a
book's LLM settings are stored encrypted and resolved to the right client."""

import asyncio

import pytest

from app.asking import (
    ANSWER_ACTOR,
    Asked,
    IndexBehind,
    ThreadNotFound,
    ask,
    auto_title,
    start_thread,
)
from app.book_llms import KEEP_KEY, BookLLMs, BookLLMSettings, LLMSettingsUnreadable
from engine.accounts import open_account_store
from engine.accounts.secrets import SecretBox
from engine.rules import Invalid
from events import MessagePosted, ThreadStarted
from projections.providers import ChatMessage, ProviderConfig, ProviderUnavailable, make_llm
from tests.fakes import FakeOpenAI
from tests.projections.pipeline_support import add_text, new_chapter, settle

OWL_TEXT = (
    "# Owls\n\nThe snowy owl nests on the open tundra of the Arctic and hunts lemmings.\n\n"
    "# Bees\n\nHoney bees dance to tell their sisters where the flowers are.\n"
)


@pytest.fixture
async def chapter(worker, books):
    chapter = await new_chapter(books)
    await add_text(worker.logs, worker.blobs, chapter, "animals.md", OWL_TEXT)
    await settle(worker, chapter)
    return chapter


@pytest.fixture
async def accounts(tmp_path):
    store = await open_account_store(tmp_path / "accounts.sqlite3", SecretBox.load(tmp_path))
    yield store
    await store.close()


async def chat_events(worker, chapter):
    return [
        r.envelope
        async for r in worker.logs.chapter(chapter).read()
        if isinstance(r.envelope.body, MessagePosted | ThreadStarted)
    ]


async def collect(stream):
    deltas, final = [], None
    async for item in stream:
        if isinstance(item, Asked):
            final = item
        else:
            deltas.append(item)
    return deltas, final


async def test_an_extractive_answer_cites_the_passage_and_both_turns_are_logged(worker, chapter):
    thread = await start_thread(worker, chapter=chapter, actor="u-owner", title="  Birds  ")
    assert thread.title == "Birds"

    deltas, answer = await collect(
        ask(
            worker,
            chapter=chapter,
            thread=thread.id,
            question="Where does the snowy owl nest?",
            actor="u-owner",
            llm=None,
        )
    )

    assert answer is not None and "".join(deltas) == answer.text
    assert answer.text.startswith("No language model is configured")
    assert answer.model == "extractive"
    first = answer.citations[0]
    assert first.source_name == "animals.md" and "tundra" in first.text
    assert first.span.end > first.span.start
    # The log holds the question, then the answer with what retrieval saw.
    events = await chat_events(worker, chapter)
    question, reply = events[-2], events[-1]
    assert isinstance(question.body, MessagePosted) and question.body.role == "user"
    assert question.actor == "u-owner" and question.body.message == answer.question
    assert isinstance(reply.body, MessagePosted) and reply.body.role == "assistant"
    assert reply.actor == ANSWER_ACTOR and reply.rev == answer.message_rev
    assert reply.body.message == answer.id and reply.body.model == "extractive"
    assert reply.body.answered_at_rev == answer.rev >= question.rev
    assert [c.chunk for c in reply.body.citations] == [c.chunk for c in answer.citations]
    # The chat view shows both at once (read your own writes).
    view = await worker.chat.messages(chapter, thread.id)
    assert [m.role for m in view] == ["user", "assistant"]


async def test_an_llm_answer_records_model_usage_and_sends_earlier_turns(worker, chapter):
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    with FakeOpenAI(answer="It nests on the Arctic tundra [1].") as fake:
        llm = make_llm(
            ProviderConfig(
                kind="openai", model="gpt-test", base_url=fake.base_url, api_key=fake.api_key
            )
        )
        deltas, first = await collect(
            ask(worker, chapter=chapter, thread=thread.id, question="Where do snowy owls nest?",
                actor="u-owner", llm=llm)
        )  # fmt: skip
        _, second = await collect(
            ask(worker, chapter=chapter, thread=thread.id, question="And what do they hunt?",
                actor="u-owner", llm=llm)
        )  # fmt: skip
        await llm.aclose()
        sent = fake.requests_to("/chat/completions")[-1].body["messages"]

    assert len(deltas) > 3 and first.text == "It nests on the Arctic tundra [1]."
    assert first.model == "openai:gpt-test"
    assert first.usage is not None and first.usage.completion == 7
    assert len(first.citations) == 1 and "tundra" in first.citations[0].text
    # The second question carried the first question and answer as history.
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "Where do snowy owls nest?"
    assert sent[2]["content"] == first.text
    assert sent[3]["content"] == "And what do they hunt?"
    reply = (await chat_events(worker, chapter))[-1].body
    # A follow-up: the model rewrote it into a query, then answered; both calls are counted.
    assert reply.model == "openai:gpt-test" and reply.usage.completion == 7 + 7
    assert second.rev > first.rev


async def test_a_provider_dying_mid_answer_leaves_the_question_and_no_half_answer(worker, chapter):
    thread = await start_thread(worker, chapter=chapter, actor="u-owner")
    before = len(await chat_events(worker, chapter))
    seen: list[str] = []
    with FakeOpenAI(answer="The snowy owl nests on the tundra, as the notes say [1].") as fake:
        fake.die_after_chunks = 3
        llm = make_llm(
            ProviderConfig(kind="openai", model="m", base_url=fake.base_url, api_key=fake.api_key)
        )
        with pytest.raises(ProviderUnavailable) as caught:
            async for item in ask(
                worker, chapter=chapter, thread=thread.id, actor="u-owner", llm=llm,
                question="Where does the snowy owl nest?",
            ):  # fmt: skip
                seen.append(item)
        await llm.aclose()

    assert seen and all(isinstance(s, str) for s in seen)
    assert "openai" in str(caught.value)
    after = await chat_events(worker, chapter)
    assert len(after) == before + 1
    assert after[-1].body.role == "user"
    assert after[-1].body.text == "Where does the snowy owl nest?"


async def test_a_question_in_an_unknown_thread_or_an_empty_question_appends_nothing(
    worker, chapter
):
    head = (await worker.logs.chapter(chapter).head()).rev
    with pytest.raises(ThreadNotFound):
        await collect(
            ask(worker, chapter=chapter, thread="01hzzzzzzzzzzzzzzzzzzzzzzz", question="Hi?",
                actor="u", llm=None, wait_s=0.5)
        )  # fmt: skip
    with pytest.raises(ThreadNotFound):
        await collect(
            ask(worker, chapter=chapter, thread="not an id", question="Hi?", actor="u", llm=None)
        )
    thread = await start_thread(worker, chapter=chapter, actor="u")
    for question, k in (("   ", 8), ("x" * 8001, 8), ("fine", 0), ("fine", 51)):
        with pytest.raises(Invalid):
            await collect(
                ask(worker, chapter=chapter, thread=thread.id, question=question, actor="u",
                    llm=None, k=k)
            )  # fmt: skip
    assert (await worker.logs.chapter(chapter).head()).rev == head + 1  # the ThreadStarted only
    with pytest.raises(Invalid):
        await start_thread(worker, chapter=chapter, actor="u", title="t" * 201)


async def test_an_index_that_cannot_catch_up_is_reported_and_the_question_kept(worker, chapter):
    thread = await start_thread(worker, chapter=chapter, actor="u")
    await worker.runner.stop()  # nothing folds any more
    with pytest.raises(IndexBehind) as caught:
        await collect(
            ask(worker, chapter=chapter, thread=thread.id, question="Owls?", actor="u",
                llm=None, wait_s=0.3)
        )  # fmt: skip
    assert caught.value.retry_after > 0 and "ask again" in str(caught.value)
    last = (await chat_events(worker, chapter))[-1]
    assert last.body.role == "user" and last.body.text == "Owls?"


def test_auto_titles_are_the_first_line_cut_at_a_word():
    assert auto_title("  What is\nthis?") == "What is"
    long = "word " * 40
    title = auto_title(long)
    assert len(title) <= 80 and title.endswith("…") and " wor…" not in title


async def test_book_llm_settings_are_encrypted_resolved_and_forgotten(accounts, tmp_path):
    llms = BookLLMs(accounts, default=None)
    secret = "sk-book-secret-0123456789"
    try:
        assert (await llms.choice("b1")).source == "none"
        assert await llms.for_book("b1") is None
        with FakeOpenAI(api_key=secret) as fake:
            choice = await llms.put(
                "b1",
                BookLLMSettings(kind="openai", model="gpt-test", base_url=fake.base_url),
                api_key=secret,
            )
            assert choice.source == "book" and choice.has_api_key and choice.model == "gpt-test"
            assert secret not in repr(choice)
            llm = await llms.for_book("b1")
            assert llm is not None and llm.name == "openai:gpt-test"
            assert (await llm.complete([ChatMessage(role="user", content="hi")]))[0] == fake.answer
            assert await llms.for_book("b1") is llm  # the client is reused
            # A new model at the same endpoint keeps the key...
            await llms.put(
                "b1", BookLLMSettings(kind="openai", model="other", base_url=fake.base_url)
            )
            assert (await llms.choice("b1")).has_api_key
            # ...another endpoint does not take it along.
            await llms.put("b1", BookLLMSettings(kind="ollama", base_url=fake.url))
            choice = await llms.choice("b1")
            assert not choice.has_api_key and choice.model == "llama3.2"
        # The key is stored encrypted: its text is nowhere in the database files.
        for path in tmp_path.glob("accounts.sqlite3*"):
            assert secret.encode() not in path.read_bytes()
        await llms.put("b1", BookLLMSettings(kind="extractive", model="ignored"))
        assert await llms.for_book("b1") is None
        assert (await llms.choice("b1")).source == "book"
        assert (await llms.delete("b1")).source == "none"
    finally:
        await llms.aclose()


async def test_unreadable_settings_are_an_error_until_set_again(accounts):
    llms = BookLLMs(accounts, default=make_llm(ProviderConfig(kind="ollama", model="m")))
    await accounts.put_secret("book:b3", "llm.config", "{not json")
    # Never the server's LLM instead: the book may have chosen to use none.
    with pytest.raises(LLMSettingsUnreadable):
        await llms.for_book("b3")
    with pytest.raises(LLMSettingsUnreadable):
        await llms.choice("b3")
    await llms.put("b3", BookLLMSettings(kind="extractive"))
    assert await llms.for_book("b3") is None
    await llms.default.aclose()


@pytest.mark.parametrize(
    ("settings", "key", "says"),
    [
        (BookLLMSettings(kind="openai"), None, "needs an api_key"),
        (BookLLMSettings(kind="anthropic", model="c"), KEEP_KEY, "needs an api_key"),
        (BookLLMSettings(kind="openai", base_url="ftp://x"), "k", "http"),
        (BookLLMSettings(kind="openai", base_url="http://u:p@host/v1"), "k", "credentials"),
        (BookLLMSettings(kind="gemini", base_url="http://h/?key=abc"), "k", "query"),
        (BookLLMSettings(kind="openai", base_url="http://h:99999"), "k", "valid URL"),
        (BookLLMSettings(kind="openai", model="x" * 201, base_url="http://h"), "k", "model"),
        (BookLLMSettings(kind="openai", base_url="http://h"), "has space", "spaces"),
    ],
)
async def test_unusable_book_llm_settings_are_refused_and_nothing_is_stored(
    accounts, settings, key, says
):
    llms = BookLLMs(accounts, default=None)
    with pytest.raises(Invalid) as caught:
        await llms.put("b2", settings, api_key=key)
    assert says in str(caught.value)
    if isinstance(key, str):
        assert key not in str(caught.value) or len(key) < 4
    assert (await llms.choice("b2")).source == "none"


async def test_concurrent_questions_in_one_thread_all_get_answers(worker, chapter):
    thread = await start_thread(worker, chapter=chapter, actor="u")
    results = await asyncio.gather(
        *(
            collect(ask(worker, chapter=chapter, thread=thread.id, question=f"Owls {i}?",
                        actor="u", llm=None))
            for i in range(3)
        )
    )  # fmt: skip
    assert all(final is not None for _, final in results)
    roles = [m.role for m in await worker.chat.messages(chapter, thread.id)]
    assert roles.count("user") == 3 and roles.count("assistant") == 3
