"""A book's rerank settings over HTTP: who may see and change them, which service a chapter's
search and answers go to (the book's, else the server's `[rerank]`, or none), and that the key
is write-only and stored nowhere in clear. Two local servers speak the rerank wire shape: the
server's (Jina's path) and the book's (Cohere's)."""

from __future__ import annotations

import re

import pytest
from chat_support import open_desk
from gateway_support import assert_error, bearer, sign_up

from app.settings import Settings
from projections.settings import RerankSettings
from tests.fakes.rerank import FakeRerank

SECRET = "rk-book-secret-5e2a91c0d7"


@pytest.fixture
def server_fake():
    with FakeRerank() as fake:
        yield fake


@pytest.fixture
def book_fake():
    with FakeRerank(api_key=SECRET) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path, limits, server_fake) -> Settings:
    rerank = RerankSettings(
        kind="jina", base_url=server_fake.base_url, model="server-rerank",
        api_key=server_fake.api_key, depth=5,
    )  # fmt: skip
    return Settings(data_dir=tmp_path / "data", limits=limits, rerank=rerank)


@pytest.fixture
async def desk(client, services):
    return await open_desk(client, services)


def _url(desk) -> str:
    return f"/v1/books/{desk.book}/rerank"


async def _search(client, desk) -> list[dict]:
    response = await client.post(
        f"/v1/chapters/{desk.chapter}/search",
        json={"query": "Where does the snowy owl nest?", "k": 1},
        headers=desk.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["hits"]


async def test_members_see_the_service_and_only_admins_change_it(client, desk, book_fake):
    member_token = await sign_up(client, email="bob@example.org")
    added = await client.post(
        f"/v1/books/{desk.book}/members",
        json={"email": "bob@example.org", "role": "member"},
        headers=desk.headers,
    )
    assert added.status_code == 201, added.text
    member = bearer(member_token)
    stranger = bearer(await sign_up(client, email="eve@example.org"))

    seen = await client.get(_url(desk), headers=member)
    assert seen.status_code == 200
    assert seen.json() == {
        "source": "server", "kind": "jina", "model": "server-rerank", "base_url": None,
        "depth": 5, "has_api_key": False,
    }  # fmt: skip
    assert_error(
        await client.put(_url(desk), json={"kind": "none"}, headers=member), 403, "forbidden"
    )
    assert_error(await client.delete(_url(desk), headers=member), 403, "forbidden")
    assert_error(await client.get(_url(desk), headers=stranger), 404, "not_found")

    body = {"kind": "cohere", "base_url": book_fake.base_url, "model": "book-rerank",
            "depth": 3, "api_key": SECRET}  # fmt: skip
    changed = await client.put(_url(desk), json=body, headers=desk.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "source": "book", "kind": "cohere", "model": "book-rerank",
        "base_url": book_fake.base_url, "depth": 3, "has_api_key": True,
    }  # fmt: skip
    assert (await client.get(_url(desk), headers=member)).json()["has_api_key"] is True
    assert (await client.delete(_url(desk), headers=desk.headers)).json()["source"] == "server"


async def test_search_and_answers_go_to_the_books_service_else_the_servers(
    client, desk, server_fake, book_fake
):
    await _search(client, desk)
    (sent,) = server_fake.requests_to("/v1/rerank")
    assert sent.body["model"] == "server-rerank" and sent.body["top_n"] == 1

    body = {"kind": "cohere", "base_url": book_fake.base_url, "model": "book-rerank",
            "depth": 3, "api_key": SECRET}  # fmt: skip
    assert (await client.put(_url(desk), json=body, headers=desk.headers)).status_code == 200
    hits = await _search(client, desk)
    (sent,) = book_fake.requests_to("/v2/rerank")
    assert (
        sent.body["model"] == "book-rerank" and sent.headers["authorization"] == f"Bearer {SECRET}"
    )
    # Scored by the service's relevance (the fake's: the share of the query's words it holds).
    query = set(re.findall(r"\w+", "where does the snowy owl nest"))
    held = query & {w.lower() for w in re.findall(r"\w+", hits[0]["text"])}
    assert hits[0]["score"] == pytest.approx(len(held) / len(query))
    asked = await client.post(
        f"/v1/chapters/{desk.chapter}/ask",
        json={"question": "Where does the snowy owl nest?"},
        headers=desk.headers,
    )
    assert asked.status_code == 200, asked.text
    assert len(book_fake.requests_to("/v2/rerank")) == 2
    assert len(server_fake.requests_to("/v1/rerank")) == 1  # the server's was not asked again

    # none: this book's passages go to no rerank service, though the server has one.
    none = await client.put(_url(desk), json={"kind": "none"}, headers=desk.headers)
    assert none.json() == {
        "source": "book", "kind": "none", "model": "", "base_url": None, "depth": 30,
        "has_api_key": False,
    }  # fmt: skip
    await _search(client, desk)
    assert len(book_fake.requests_to("/v2/rerank")) == 2
    assert len(server_fake.requests_to("/v1/rerank")) == 1

    await client.delete(_url(desk), headers=desk.headers)
    await _search(client, desk)
    assert len(server_fake.requests_to("/v1/rerank")) == 2


async def test_the_key_is_write_only_kept_dropped_and_nowhere_in_clear(
    client, desk, book_fake, settings
):
    where = {"kind": "cohere", "base_url": book_fake.base_url, "model": "book-rerank"}
    texts = []
    stored = await client.put(_url(desk), json={**where, "api_key": SECRET}, headers=desk.headers)
    texts.append(stored.text)
    kept = await client.put(_url(desk), json={**where, "depth": 7}, headers=desk.headers)
    assert kept.json()["has_api_key"] and kept.json()["depth"] == 7
    await _search(client, desk)  # the kept key still works: the fake checks it
    # The service refusing the key fails the search, without repeating it.
    book_fake.api_key = "another-key-entirely"
    failed = await client.post(
        f"/v1/chapters/{desk.chapter}/search", json={"query": "owls"}, headers=desk.headers
    )
    assert_error(failed, 400, "provider_auth")
    texts.append(failed.text)
    moved = {**where, "base_url": book_fake.url + "/elsewhere"}
    assert not (await client.put(_url(desk), json=moved, headers=desk.headers)).json()[
        "has_api_key"
    ]  # a key never follows its settings to another service
    for text in texts:
        assert SECRET not in text
    for path in settings.data.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "cohere", "model": "m"}, "invalid_argument"),  # no base_url
        ({"kind": "jina", "base_url": "http://127.0.0.1:9"}, "invalid_argument"),  # no model
        ({"kind": "cohere", "base_url": "http://u:p@127.0.0.1:9", "model": "m"}, "invalid_argument"),
        ({"kind": "cohere", "base_url": "http://127.0.0.1:9", "model": "m", "depth": 0},
         "validation_error"),
        ({"kind": "voyage", "base_url": "http://127.0.0.1:9", "model": "m"}, "validation_error"),
    ],
)  # fmt: skip
async def test_settings_that_cannot_work_are_refused_and_nothing_stored(client, desk, body, code):
    assert_error(await client.put(_url(desk), json=body, headers=desk.headers), 422, code)
    assert (await client.get(_url(desk), headers=desk.headers)).json()["source"] == "server"
