"""Merkle proofs over HTTP: inclusion and consistency, served from the stored tree (or the log
when the tree is behind), and checked here as a stranger would, from the hex alone."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from gateway_support import assert_error, bearer, sign_up

import rust_core
from app.services import Services
from events import ChapterRenamed
from events.proofs import verify_consistency_hex, verify_inclusion_hex

EVENTS = 300
"""Renames appended after creation: more than one tile (256) of leaves."""


@pytest.fixture
async def chapter(client: httpx.AsyncClient, services: Services) -> tuple[str, dict[str, str]]:
    headers = bearer(await sign_up(client))
    book = await client.post("/v1/books", json={"name": "Proofs"}, headers=headers)
    made = await client.post(
        f"/v1/books/{book.json()['id']}/chapters", json={"title": "Ledger"}, headers=headers
    )
    assert made.status_code == 201, made.text
    log = services.logs.chapter(made.json()["id"])
    stored = await log.append_many(
        [ChapterRenamed(title=f"title {i}") for i in range(EVENTS)], actor="u-owner"
    )
    async with asyncio.timeout(60):
        await services.read.runner.wait(log.id, stored[-1].rev, projections=["tree"])
    return log.id, headers


async def chain_hashes(services: Services, chapter: str) -> list[bytes]:
    return [e.hash async for e in services.logs.chapter(chapter).read()]


async def test_inclusion_and_consistency_come_from_the_stored_tree(client, services, chapter):
    chapter_id, headers = chapter
    url = f"/v1/chapters/{chapter_id}/proof"
    hashes = await chain_hashes(services, chapter_id)
    head = len(hashes)
    for rev, size in [(1, 1), (2, 3), (200, 257), (head, head)]:
        p = (await client.get(url, params={"rev": rev, "size": size}, headers=headers)).json()
        assert p["served_from"] == "tree"
        root = rust_core.merkle_root(hashes[:size]).hex()
        # The client checks against the root it computed itself, not the one sent.
        assert verify_inclusion_hex(root, hashes[rev - 1].hex(), rev, size, p["proof"])
    for old, new in [(1, 1), (3, 7), (256, 257), (100, head), (head, head)]:
        response = await client.get(url, params={"from": old, "to": new}, headers=headers)
        assert response.status_code == 200, response.text
        p = response.json()
        assert set(p) == {"from", "to", "old_root", "new_root", "proof", "served_from"}
        assert (p["from"], p["to"], p["served_from"]) == (old, new, "tree")
        old_root = rust_core.merkle_root(hashes[:old]).hex()
        new_root = rust_core.merkle_root(hashes[:new]).hex()
        assert (p["old_root"], p["new_root"]) == (old_root, new_root)
        assert verify_consistency_hex(old_root, new_root, old, new, p["proof"])
        if p["proof"]:  # a forged path does not verify
            forged = ["00" * 32, *p["proof"][1:]]
            assert not verify_consistency_hex(old_root, new_root, old, new, forged)
    whole = (await client.get(url, params={"from": 5}, headers=headers)).json()
    assert whole["to"] == head  # `to` defaults to the head


async def test_a_tree_that_is_behind_is_answered_from_the_log(client, services, chapter):
    chapter_id, headers = chapter
    url = f"/v1/chapters/{chapter_id}/proof"
    services.read.runner.unwatch(chapter_id)
    await services.read.trees.reset(chapter_id)
    from_log = (await client.get(url, params={"from": 2, "to": 9}, headers=headers)).json()
    assert from_log["served_from"] == "log"
    included = (await client.get(url, params={"rev": 4}, headers=headers)).json()
    assert included["served_from"] == "log"
    hashes = await chain_hashes(services, chapter_id)
    assert verify_consistency_hex(
        rust_core.merkle_root(hashes[:2]).hex(),
        rust_core.merkle_root(hashes[:9]).hex(),
        2,
        9,
        from_log["proof"],
    )
    assert verify_inclusion_hex(
        included["root"], hashes[3].hex(), 4, included["size"], included["proof"]
    )


async def test_contradictory_or_impossible_proofs_are_refused(client, chapter):
    chapter_id, headers = chapter
    url = f"/v1/chapters/{chapter_id}/proof"
    head = EVENTS + 1
    for params, status, code in [
        ({"rev": 1, "from": 1}, 400, "bad_request"),
        ({"rev": 1, "to": 3}, 400, "bad_request"),
        ({"from": 5, "to": 4}, 400, "bad_request"),
        ({"from": 1, "to": head + 1}, 400, "bad_request"),
        ({"from": head + 1}, 400, "bad_request"),
        ({"from": 0, "to": 3}, 422, "validation_error"),
        ({"to": 3}, 422, "validation_error"),
    ]:
        response = await client.get(url, params=params, headers=headers)
        assert_error(response, status, code)
