"""Chat over HTTP against real services and fake provider servers: threads, questions answered with
citations (JSON and server-sent events), and what a failing provider leaves behind."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import uvicorn
from chat_support import chat_events, new_thread, open_desk, put_llm, read_events
from gateway_support import assert_error

from app.settings import Settings
from events import MessagePosted
from projections.settings import ProviderSettings
from tests.fakes import FakeAnthropic, FakeGemini, FakeOllama, FakeOpenAI

STREAM = {"Accept": "text/event-stream"}
OWL_ANSWER = "The snowy owl nests on the Arctic tundra [1]."


@pytest.fixture
def settings(tmp_path, limits) -> Settings:
    # No server-wide LLM: questions of a book without settings get extractive answers.
    return Settings(
        data_dir=tmp_path / "data", limits=limits, llm=ProviderSettings(kind="extractive")
    )


@pytest.fixture
async def desk(client, services):
    return await open_desk(client, services)


@pytest.fixture
def openai_fake():
    with FakeOpenAI(answer=OWL_ANSWER) as fake:
        yield fake


async def use_openai(client, desk, fake: FakeOpenAI, *, api_key: str | None = None) -> None:
    """Point the desk's book at `fake`, with the fake's key unless another is given."""
    await put_llm(
        client,
        desk,
        kind="openai",
        model="gpt-test",
        base_url=fake.base_url,
        api_key=api_key or fake.api_key,
    )


@pytest.fixture
async def with_openai(client, desk, openai_fake):
    await use_openai(client, desk, openai_fake)
    return openai_fake


def messages_url(desk, thread: str) -> str:
    return f"/v1/chapters/{desk.chapter}/threads/{thread}/messages"


async def test_an_answer_cites_the_uploaded_passage_and_is_logged(
    client, services, desk, with_openai
):
    thread = await new_thread(client, desk, "Owls")
    response = await client.post(
        messages_url(desk, thread),
        json={"text": "Where does the snowy owl nest?"},
        headers=desk.headers,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["text"] == OWL_ANSWER and answer["model"] == "openai:gpt-test"
    assert answer["thread"] == thread and answer["usage"]["completion"] == 9
    [cited] = answer["citations"]
    assert cited["source"] == desk.source and cited["source_name"] == "animals.md"
    assert len(cited["chunk"]) == 64 and "tundra" in cited["text"]
    assert cited["span"]["end"] > cited["span"]["start"]
    assert answer["rev"] >= 1 and answer["message_rev"] > answer["rev"] - 1

    # The log holds the question, then the answer with rev, citations, model and usage.
    *_, question, reply = await chat_events(services, desk.chapter)
    assert isinstance(question.body, MessagePosted) and question.body.role == "user"
    assert question.actor == desk.user and question.body.message == answer["question"]
    assert reply.body.role == "assistant" and reply.body.message == answer["id"]
    assert reply.body.answered_at_rev == answer["rev"] and reply.rev == answer["message_rev"]
    assert reply.body.model == "openai:gpt-test" and reply.body.usage.completion == 9
    assert [(c.source, c.chunk) for c in reply.body.citations] == [(desk.source, cited["chunk"])]

    # Listing shows both, with the cited source's name; the thread counts them.
    listed = await client.get(messages_url(desk, thread), headers=desk.headers)
    assert listed.status_code == 200
    roles = [(m["role"], m["text"]) for m in listed.json()["messages"]]
    assert roles == [("user", "Where does the snowy owl nest?"), ("assistant", OWL_ANSWER)]
    assistant = listed.json()["messages"][1]
    assert assistant["citations"][0]["source_name"] == "animals.md"
    assert assistant["answered_at_rev"] == answer["rev"] and assistant["model"] == "openai:gpt-test"
    threads = (
        await client.get(f"/v1/chapters/{desk.chapter}/threads", headers=desk.headers)
    ).json()
    assert [(t["id"], t["title"], t["message_count"]) for t in threads["threads"]] == [
        (thread, "Owls", 2)
    ]


async def test_streaming_sends_several_tokens_then_the_answer(client, desk, with_openai):
    thread = await new_thread(client, desk)
    response = await client.post(
        messages_url(desk, thread),
        json={"text": "Where does the snowy owl nest?"},
        headers={**desk.headers, **STREAM},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = read_events(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "answer" and set(names[:-1]) == {"token"} and len(names) > 4
    tokens = "".join(data["text"] for name, data in events if name == "token")
    answer = events[-1][1]
    assert tokens == answer["text"] == OWL_ANSWER
    assert answer["citations"][0]["source_name"] == "animals.md"


async def test_a_provider_killed_mid_answer_gives_an_error_event_and_no_half_message(
    client, services, desk, with_openai
):
    thread = await new_thread(client, desk)
    with_openai.die_after_chunks = 3

    response = await client.post(
        messages_url(desk, thread),
        json={"text": "Where does the snowy owl nest?"},
        headers={**desk.headers, **STREAM},
    )
    events = read_events(response.text)
    assert [n for n, _ in events[:-1]] == ["token"] * (len(events) - 1) and len(events) > 1
    name, data = events[-1]
    assert name == "error" and data["error"]["code"] == "provider_unavailable"
    assert data["error"]["message"].startswith("openai:")

    # The same failure asked for JSON is a plain 503 naming the provider.
    plain = await client.post(
        messages_url(desk, thread),
        json={"text": "Where do snowy owls nest now?"},
        headers=desk.headers,
    )
    error = assert_error(plain, 503, "provider_unavailable")
    assert "openai" in error["message"]

    # Both questions are in the log, and no answer at all.
    roles = [
        e.body.role
        for e in await chat_events(services, desk.chapter)
        if e.body.thread == thread and isinstance(e.body, MessagePosted)
    ]
    assert roles == ["user", "user"]


async def test_a_wrong_api_key_is_a_clear_400_naming_the_provider(client, desk, openai_fake):
    await use_openai(client, desk, openai_fake, api_key="sk-wrong-key-00000000")
    thread = await new_thread(client, desk)
    for headers in (desk.headers, {**desk.headers, **STREAM}):
        response = await client.post(
            messages_url(desk, thread), json={"text": "Owls?"}, headers=headers
        )
        error = assert_error(response, 400, "provider_auth")
        assert error["message"].startswith("openai:") and "401" in error["message"]
        assert "sk-wrong-key-00000000" not in response.text


async def test_a_rate_limited_provider_is_a_429_with_retry_after(client, desk, with_openai):
    thread = await new_thread(client, desk)
    with_openai.fail_next(429, retry_after=120)  # longer than the client waits by itself
    response = await client.post(
        messages_url(desk, thread), json={"text": "Owls?"}, headers=desk.headers
    )
    error = assert_error(response, 429, "provider_rate_limited")
    assert response.headers["Retry-After"] == "120" and "openai" in error["message"]


async def test_without_an_llm_the_answer_is_extractive_says_so_and_cites(client, services, desk):
    assert services.read.llm is None
    response = await client.post(
        f"/v1/chapters/{desk.chapter}/ask",
        json={"question": "Where does the snowy owl nest?"},
        headers=desk.headers,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == "extractive" and answer["usage"] is None
    assert answer["text"].startswith("No language model is configured")
    assert answer["citations"] and answer["citations"][0]["source"] == desk.source
    assert "tundra" in answer["citations"][0]["text"]


async def test_ask_starts_a_thread_unless_one_is_named(client, desk):
    url = f"/v1/chapters/{desk.chapter}/ask"
    first = await client.post(
        url, json={"question": "What do bees do?\nExplain."}, headers=desk.headers
    )
    assert first.status_code == 200, first.text
    thread = first.json()["thread"]
    again = await client.post(
        url, json={"question": "And owls?", "thread": thread, "k": 2}, headers=desk.headers
    )
    assert again.json()["thread"] == thread
    listed = (await client.get(f"/v1/chapters/{desk.chapter}/threads", headers=desk.headers)).json()
    assert [(t["id"], t["title"], t["message_count"]) for t in listed["threads"]] == [
        (thread, "What do bees do?", 4)
    ]
    unknown = await client.post(
        url, json={"question": "Hm?", "thread": "01h00000000000000000000000"}, headers=desk.headers
    )
    assert_error(unknown, 404, "thread_not_found")


async def test_bad_questions_and_unknown_threads_are_refused(client, services, desk):
    thread = await new_thread(client, desk)
    head = (await services.logs.chapter(desk.chapter).head()).rev
    url = messages_url(desk, thread)
    ask_url = f"/v1/chapters/{desk.chapter}/ask"
    gone = messages_url(desk, "01h00000000000000000000000")
    refused = [
        ("POST", url, {"text": ""}, 422, "validation_error"),
        ("POST", url, {"text": "   "}, 422, "invalid_argument"),
        ("POST", url, {"text": "x", "k": 0}, 422, "validation_error"),
        ("POST", url, {"text": "x", "extra": 1}, 422, "validation_error"),
        ("POST", ask_url, {"question": " "}, 422, "invalid_argument"),
        ("POST", gone, {"text": "x"}, 404, "thread_not_found"),
        ("GET", gone, None, 404, "thread_not_found"),
        ("GET", messages_url(desk, "junk"), None, 404, "thread_not_found"),
    ]
    for method, target, body, status, code in refused:
        response = await client.request(method, target, json=body, headers=desk.headers)
        assert_error(response, status, code)
    assert (await services.logs.chapter(desk.chapter).head()).rev == head  # nothing appended


async def test_threads_and_messages_page(client, desk):
    made = [await new_thread(client, desk, f"t{i}") for i in range(3)]
    url = f"/v1/chapters/{desk.chapter}/threads"
    page = (await client.get(url, params={"limit": 2}, headers=desk.headers)).json()
    assert [t["id"] for t in page["threads"]] == made[::-1][:2]
    rest = (
        await client.get(
            url, params={"limit": 2, "before": page["next_before"]}, headers=desk.headers
        )
    ).json()
    assert [t["id"] for t in rest["threads"]] == made[:1] and rest["next_before"] is None

    for question in ("One?", "Two?"):
        await client.post(
            messages_url(desk, made[0]), json={"text": question}, headers=desk.headers
        )
    first = (
        await client.get(messages_url(desk, made[0]), params={"limit": 3}, headers=desk.headers)
    ).json()
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "user"]
    rest = (
        await client.get(
            messages_url(desk, made[0]),
            params={"after_rev": first["next_after_rev"]},
            headers=desk.headers,
        )
    ).json()
    assert [m["role"] for m in rest["messages"]] == ["assistant"] and rest["next_after_rev"] is None
    assert_error(
        await client.get(url, params={"limit": 0}, headers=desk.headers), 422, "validation_error"
    )


@pytest.mark.parametrize("fake_type", [FakeGemini, FakeOllama, FakeAnthropic])
async def test_every_provider_kind_answers_through_the_books_settings(client, desk, fake_type):
    kind = {FakeGemini: "gemini", FakeOllama: "ollama", FakeAnthropic: "anthropic"}[fake_type]
    with fake_type(answer=OWL_ANSWER) as fake:
        await put_llm(
            client,
            desk,
            kind=kind,
            model="test-model",
            base_url=fake.base_url,
            api_key=fake.api_key,
        )
        response = await client.post(
            f"/v1/chapters/{desk.chapter}/ask",
            json={"question": "Where does the snowy owl nest?"},
            headers={**desk.headers, **STREAM},
        )
    events = read_events(response.text)
    assert events[-1][0] == "answer", events[-1]
    answer = events[-1][1]
    assert answer["text"] == OWL_ANSWER and answer["model"] == f"{kind}:test-model"
    assert answer["citations"][0]["source_name"] == "animals.md"


async def test_a_client_that_hangs_up_mid_answer_stops_it_and_leaves_no_half_answer(
    app, services, desk, with_openai
):
    # A real server (the in-process transport cannot hang up), and an LLM that stalls after a
    # few pieces: the answer can only end by being stopped.
    with_openai.stall_after_chunks = 3
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        thread = await new_thread_over(port, desk)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as real,
            real.stream(
                "POST",
                messages_url(desk, thread),
                json={"text": "Where does the snowy owl nest?"},
                headers={**desk.headers, **STREAM},
            ) as response,
        ):
            async for line in response.aiter_lines():
                if line == "event: token":
                    break  # hang up after the first piece
        # The answer's task ends long before the stalled LLM would have let it.
        async with asyncio.timeout(5):
            while any(t.get_name() == "answer" for t in asyncio.all_tasks()):
                await asyncio.sleep(0.05)
    finally:
        server.should_exit = True
        await serving
    messages = [e.body for e in await chat_events(services, desk.chapter)]
    asked = [m for m in messages if isinstance(m, MessagePosted) and m.thread == thread]
    assert [m.role for m in asked] == ["user"]


async def new_thread_over(port: int, desk) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as real:
        response = await real.post(
            f"/v1/chapters/{desk.chapter}/threads", json={}, headers=desk.headers
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]
