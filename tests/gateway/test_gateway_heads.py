"""Signed heads and book keys over HTTP against real services: a book's key comes with it, heads
are signed on request (owner and admins) and by the worker after a quiet period, never in a loop;
rotation is signed by the old key; verify (server and client) checks every signature."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import pytest
from gateway_support import bearer, sign_up

from app.services import Services
from client.chain import ChainChecker
from client.models import BookKeys, LogEvent
from engine.settings import Limits
from events import ChapterRenamed, HeadSigned
from events.heads import head_message
from events.keys import KeyHistory, key_message, signature_ok


@pytest.fixture
def limits() -> Limits:
    return Limits(requests_per_minute_token=0, requests_per_minute_address=0)


async def _team(client: httpx.AsyncClient) -> tuple[dict, dict, str, str]:
    """An owner's book with a member's chapter: (owner headers, member headers, book, chapter)."""
    owner = bearer(await sign_up(client, "owner@example.org"))
    member = bearer(await sign_up(client, "member@example.org"))
    book = (await client.post("/v1/books", json={"name": "Lab"}, headers=owner)).json()["id"]
    added = await client.post(
        f"/v1/books/{book}/members", json={"email": "member@example.org"}, headers=owner
    )
    assert added.status_code == 201, added.text
    made = await client.post(f"/v1/books/{book}/chapters", json={"title": "T"}, headers=member)
    assert made.status_code == 201, made.text
    return owner, member, book, made.json()["id"]


async def _types(services: Services, chapter: str) -> list[str]:
    return [type(e.envelope.body).__name__ async for e in services.logs.chapter(chapter).read()]


async def test_a_book_comes_with_its_key_and_heads_signed_on_request_verify(
    client: httpx.AsyncClient, services: Services
):
    assert services.heads is not None
    services.heads.quiet_s = 3600  # only requests sign in this test
    owner, member, book, chapter = await _team(client)
    keys = (await client.get(f"/v1/books/{book}/keys", headers=member)).json()
    assert keys["ok"] and len(keys["keys"]) == 1 and keys["current"] == keys["keys"][0]["key"]
    assert keys["keys"][0]["rotation"] is None and keys["keys"][0]["to_rev"] is None
    # The owner signs; the member whose chapter it is may not (403); a stranger sees nothing.
    signed = await client.post(f"/v1/chapters/{chapter}/heads", headers=owner)
    assert signed.status_code == 201, signed.text
    head = signed.json()
    assert head["rev"] == 2 and head["signed_rev"] == 1 and head["key"] == keys["current"]
    message = head_message(chapter, 1, head["head"], head["root"])
    assert signature_ok(head["key"], message, head["signature"])
    assert (await client.post(f"/v1/chapters/{chapter}/heads", headers=member)).status_code == 403
    stranger = bearer(await sign_up(client, "stranger@example.org"))
    assert (await client.post(f"/v1/chapters/{chapter}/heads", headers=stranger)).status_code == 404
    assert (await client.get(f"/v1/books/{book}/keys", headers=stranger)).status_code == 404
    verified = (await client.get(f"/v1/chapters/{chapter}/verify", headers=member)).json()
    assert verified["ok"] and verified["signed"] == 1 and verified["signed_rev"] == 1


async def test_the_worker_signs_after_a_quiet_period_and_never_loops(
    client: httpx.AsyncClient, services: Services
):
    assert services.heads is not None
    services.heads.quiet_s = 0.3
    _, member, _, chapter = await _team(client)
    log = services.logs.chapter(chapter)
    await log.append_many([ChapterRenamed(title=f"t{i}") for i in range(3)], actor="u")

    async def signed_heads(count: int) -> list[HeadSigned]:
        async with asyncio.timeout(20):
            while True:
                heads = [
                    e.envelope.body async for e in log.read()
                    if isinstance(e.envelope.body, HeadSigned)
                ]  # fmt: skip
                if len(heads) >= count:
                    return heads
                await asyncio.sleep(0.1)

    first = await signed_heads(1)
    assert first[0].rev == 4  # ChapterCreated and three renames
    # Its own HeadSigned is no change: several quiet periods later, nothing more was signed.
    await asyncio.sleep(1.5)
    assert await _types(services, chapter) == [
        "ChapterCreated",
        *["ChapterRenamed"] * 3,
        "HeadSigned",
    ]
    # A new change is signed in turn, once.
    await log.append(ChapterRenamed(title="later"), actor="u")
    second = await signed_heads(2)
    assert second[1].rev == 6
    await asyncio.sleep(1.0)
    assert (await log.head()).rev == 7
    verified = (await client.get(f"/v1/chapters/{chapter}/verify", headers=member)).json()
    assert verified["ok"] and verified["signed"] == 2 and verified["signed_rev"] == 6


async def test_every_n_changes_sign_without_waiting_for_quiet(services: Services, client):
    assert services.heads is not None
    services.heads.quiet_s, services.heads.every = 3600, 5
    _, _, _, chapter = await _team(client)
    log = services.logs.chapter(chapter)
    for i in range(5):
        await log.append(ChapterRenamed(title=f"t{i}"), actor="u")
    async with asyncio.timeout(20):
        while "HeadSigned" not in await _types(services, chapter):
            await asyncio.sleep(0.1)


async def test_rotation_over_http_and_client_side_verification(
    client: httpx.AsyncClient, services: Services
):
    assert services.heads is not None
    services.heads.quiet_s = 3600
    owner, member, book, chapter = await _team(client)
    assert (await client.post(f"/v1/chapters/{chapter}/heads", headers=owner)).status_code == 201
    assert (await client.post(f"/v1/books/{book}/keys", headers=member)).status_code == 403
    rotated = await client.post(f"/v1/books/{book}/keys", headers=owner)
    assert rotated.status_code == 201, rotated.text
    keys = rotated.json()
    old, new = keys["keys"]
    assert keys["current"] == new["key"] and old["to_rev"] == new["from_rev"]
    assert signature_ok(old["key"], key_message(book, old["key"], new["key"]), new["rotation"])
    await services.logs.chapter(chapter).append(ChapterRenamed(title="x"), actor="u")
    signed = await client.post(f"/v1/chapters/{chapter}/heads", headers=owner)
    assert signed.json()["key"] == new["key"]
    # The client checks the downloaded bytes against the listed keys, re-checked on its side.
    listed = msgspec.convert(keys, BookKeys)
    history = KeyHistory.of_keys(book, listed.keys)
    assert not history.failed
    page = (await client.get(f"/v1/chapters/{chapter}/events", headers=member)).json()
    checker = ChainChecker(chapter, history)
    assert checker.feed(msgspec.convert(e, LogEvent).recorded() for e in page["events"])
    result = checker.result()
    assert result.ok and result.signed == 2
