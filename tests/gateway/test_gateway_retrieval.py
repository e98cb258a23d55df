"""A book's retrieval settings over HTTP: the defaults (hybrid search, the calibrated coverage
threshold), who may change them, and that search and answers follow them."""

from __future__ import annotations

import pytest
from chat_support import open_desk
from gateway_support import assert_error, bearer, sign_up

from app.answers import DEFAULT_MIN_SIMILARITY, NOT_COVERED_TEXT


@pytest.fixture
async def desk(client, services):
    return await open_desk(client, services)


async def test_the_defaults_are_hybrid_and_only_admins_change_them(client, desk):
    url = f"/v1/books/{desk.book}/retrieval"
    assert (await client.get(url, headers=desk.headers)).json() == {
        "mode": "hybrid",
        "min_similarity": DEFAULT_MIN_SIMILARITY,
    }
    member_email = "bob@example.org"
    member = bearer(await sign_up(client, email=member_email))
    added = await client.post(
        f"/v1/books/{desk.book}/members",
        json={"email": member_email, "role": "member"},
        headers=desk.headers,
    )
    assert added.status_code == 201, added.text
    assert (await client.get(url, headers=member)).status_code == 200
    assert_error(await client.put(url, json={"mode": "lexical"}, headers=member), 403, "forbidden")
    stranger = bearer(await sign_up(client, email="eve@example.org"))
    assert_error(await client.get(url, headers=stranger), 404, "not_found")
    assert (await client.put(url, json={"mode": "sparse"}, headers=desk.headers)).status_code == 422
    assert (
        await client.put(url, json={"min_similarity": 2}, headers=desk.headers)
    ).status_code == 422
    changed = await client.put(
        url, json={"mode": "lexical", "min_similarity": 0.5}, headers=desk.headers
    )
    assert changed.json() == {"mode": "lexical", "min_similarity": 0.5}
    assert (await client.get(url, headers=member)).json() == changed.json()
    reset = await client.delete(url, headers=desk.headers)
    assert reset.json()["mode"] == "hybrid"


async def test_search_and_answers_follow_the_books_settings(client, desk):
    url = f"/v1/books/{desk.book}/retrieval"
    search = f"/v1/chapters/{desk.chapter}/search"
    query = {"query": "xylophone quartet rehearsal", "k": 3}  # no word of it is in the source
    hybrid = await client.post(search, json=query, headers=desk.headers)
    assert hybrid.status_code == 200 and hybrid.json()["hits"]  # the vector side finds passages
    await client.put(url, json={"mode": "lexical"}, headers=desk.headers)
    lexical = await client.post(search, json=query, headers=desk.headers)
    assert lexical.status_code == 200 and lexical.json()["hits"] == []
    # A threshold no passage reaches: every question is answered "not covered".
    await client.put(url, json={"mode": "hybrid", "min_similarity": 0.99}, headers=desk.headers)
    asked = await client.post(
        f"/v1/chapters/{desk.chapter}/ask",
        json={"question": "Where does the snowy owl nest?"},
        headers=desk.headers,
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["text"] == NOT_COVERED_TEXT and asked.json()["citations"] == []
