"""A book's LLM settings over HTTP: who may see and change them, how a chapter's answerer is
resolved (the book's settings, else the server's default, else extractive), and that the API key
is shown nowhere: not in responses, events, the server's log or any file in the data directory."""

from __future__ import annotations

import logging

import pytest
from chat_support import chat_events, open_desk, put_llm
from gateway_support import assert_error, bearer, sign_up

from app.services import open_services
from projections.providers import ProviderConfig, make_llm
from tests.fakes import FakeOllama, FakeOpenAI

SECRET = "sk-book-secret-7d1f0c9a4e"


@pytest.fixture
def server_fake():
    with FakeOpenAI(answer="The server's model says tundra [1].") as fake:
        yield fake


@pytest.fixture
async def services(settings, passwords, clock, local_embedder, server_fake):
    # The server's default answerer is a fake OpenAI server, so that resolution can be seen.
    default = make_llm(
        ProviderConfig(
            kind="openai",
            model="server-model",
            base_url=server_fake.base_url,
            api_key=server_fake.api_key,
        )
    )
    opened = await open_services(
        settings, passwords=passwords, clock=clock, embedder=local_embedder, llm=default
    )
    try:
        yield opened
    finally:
        await opened.close()
        await default.aclose()


@pytest.fixture
async def desk(client, services):
    return await open_desk(client, services)


async def join(client, desk, email: str, role: str) -> str:
    """Sign someone up and add them to the desk's book; their token."""
    token = await sign_up(client, email=email)
    added = await client.post(
        f"/v1/books/{desk.book}/members", json={"email": email, "role": role}, headers=desk.headers
    )
    assert added.status_code == 201, added.text
    return token


async def ask_model(client, desk) -> str:
    response = await client.post(
        f"/v1/chapters/{desk.chapter}/ask",
        json={"question": "Where does the snowy owl nest?"},
        headers=desk.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["model"]


async def test_members_see_what_answers_and_only_admins_change_it(client, desk):
    url = f"/v1/books/{desk.book}/llm"
    member = bearer(await join(client, desk, "bob@example.org", "member"))
    admin = bearer(await join(client, desk, "cy@example.org", "admin"))
    stranger = bearer(await sign_up(client, email="eve@example.org"))

    seen = await client.get(url, headers=member)
    assert seen.status_code == 200
    assert seen.json() == {
        "source": "server",
        "kind": "openai",
        "model": "server-model",
        "base_url": None,
        "has_api_key": False,
    }
    assert_error(
        await client.put(url, json={"kind": "extractive"}, headers=member), 403, "forbidden"
    )
    assert_error(await client.delete(url, headers=member), 403, "forbidden")
    assert_error(await client.get(url, headers=stranger), 404, "not_found")
    assert_error(
        await client.put(url, json={"kind": "extractive"}, headers=stranger), 404, "not_found"
    )
    assert_error(await client.get("/v1/books/nope/llm", headers=admin), 404, "not_found")

    changed = await client.put(url, json={"kind": "extractive"}, headers=admin)
    assert changed.status_code == 200
    assert changed.json()["source"] == "book" and changed.json()["kind"] == "extractive"
    assert (await client.delete(url, headers=admin)).json()["source"] == "server"


async def test_a_chapter_is_answered_by_its_books_llm_else_the_servers(client, desk):
    assert await ask_model(client, desk) == "openai:server-model"
    with FakeOllama(answer="Ollama says tundra [1].", api_key=None) as ollama:
        await put_llm(client, desk, kind="ollama", model="llama-test", base_url=ollama.base_url)
        assert await ask_model(client, desk) == "ollama:llama-test"
        assert ollama.requests_to("/api/chat")
    await put_llm(client, desk, kind="extractive")
    assert await ask_model(client, desk) == "extractive"
    deleted = await client.delete(f"/v1/books/{desk.book}/llm", headers=desk.headers)
    assert deleted.status_code == 200 and deleted.json()["source"] == "server"
    assert await ask_model(client, desk) == "openai:server-model"


async def test_the_api_key_is_shown_nowhere(client, services, desk, caplog, settings):
    caplog.set_level(logging.DEBUG)
    member = bearer(await join(client, desk, "bob@example.org", "member"))
    url = f"/v1/books/{desk.book}/llm"
    texts = []
    with FakeOpenAI(api_key=SECRET, answer="Owls nest on the tundra [1].") as fake:
        stored = await client.put(
            url,
            json={
                "kind": "openai",
                "model": "gpt-test",
                "base_url": fake.base_url,
                "api_key": SECRET,
            },
            headers=desk.headers,
        )
        assert stored.status_code == 200 and stored.json()["has_api_key"] is True
        texts.append(stored.text)
        for headers in (desk.headers, member):
            shown = await client.get(url, headers=headers)
            assert shown.json()["has_api_key"] is True
            texts.append(shown.text)
        # The key works: the fake server only answers requests that carry it.
        assert await ask_model(client, desk) == "openai:gpt-test"
        assert (
            fake.requests_to("/chat/completions")[-1].headers["authorization"] == f"Bearer {SECRET}"
        )
        # A refused PUT does not echo it either.
        refused = await client.put(
            url,
            json={"kind": "openai", "base_url": "ftp://x", "api_key": SECRET},
            headers=desk.headers,
        )
        assert_error(refused, 422, "invalid_argument")
        texts.append(refused.text)
        # Nor does a provider error: the fake now refuses the key.
        fake.api_key = "another-key-entirely"
        failed = await client.post(
            f"/v1/chapters/{desk.chapter}/ask", json={"question": "Owls?"}, headers=desk.headers
        )
        assert_error(failed, 400, "provider_auth")
        texts.append(failed.text)

    for text in texts:
        assert SECRET not in text
    assert SECRET not in caplog.text and caplog.records  # the app did log things
    # Not in any event of the chapter's or the book's log.
    for envelope in await chat_events(services, desk.chapter):
        assert SECRET not in repr(envelope)
    async for recorded in services.logs.book(desk.book).read():
        assert SECRET.encode() not in recorded.payload
    async for recorded in services.logs.chapter(desk.chapter).read():
        assert SECRET.encode() not in recorded.payload
    # Not in clear in any file of the data directory (JetStream store, SQLite, Chroma, blobs).
    for path in settings.data.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


async def test_a_stored_key_is_kept_replaced_or_dropped(client, desk):
    with FakeOpenAI() as fake:
        where = {"kind": "openai", "base_url": fake.base_url}
        assert (await put_llm(client, desk, **where, api_key="k-one-0000"))["has_api_key"]
        # Left out: kept while the endpoint stays the same.
        kept = await put_llm(client, desk, **where, model="other-model")
        assert kept["has_api_key"] and kept["model"] == "other-model"
        # Null: dropped.
        assert not (await put_llm(client, desk, **where, api_key=None))["has_api_key"]
        assert (await put_llm(client, desk, **where, api_key="k-two-0000"))["has_api_key"]
        # Another endpoint: the key does not follow the settings there.
        moved = await put_llm(client, desk, kind="openai", base_url=fake.url + "/other/v1")
        assert not moved["has_api_key"] and moved["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "openai"}, "invalid_argument"),  # the public endpoint needs a key
        ({"kind": "anthropic", "api_key": None}, "invalid_argument"),
        ({"kind": "openai", "base_url": "http://user:pw@127.0.0.1:9/v1"}, "invalid_argument"),
        ({"kind": "gemini", "base_url": "http://127.0.0.1:9/?key=abc"}, "invalid_argument"),
        ({"kind": "openai", "base_url": "not a url"}, "invalid_argument"),
        ({"kind": "mistral", "model": "m"}, "validation_error"),
        ({"kind": "openai", "api_key": "k", "temperature": 2}, "validation_error"),
        ({"kind": "openai", "api_key": "x" * 5000}, "validation_error"),
        ({"model": "m"}, "validation_error"),
    ],
)
async def test_settings_that_cannot_work_are_refused_and_nothing_changes(client, desk, body, code):
    url = f"/v1/books/{desk.book}/llm"
    assert_error(await client.put(url, json=body, headers=desk.headers), 422, code)
    assert (await client.get(url, headers=desk.headers)).json()["source"] == "server"
