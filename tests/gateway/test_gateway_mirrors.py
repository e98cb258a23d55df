"""Live shares accepted on the same server: the guest's mirror chapter follows the owner's, and
leaves the guest's book when the share ends.

(Across two servers, see tests/e2e/test_share_two_servers.py.)
"""

from __future__ import annotations

import asyncio

import pytest
from gateway_support import assert_error
from isolation_support import Person, sign_up_person

from app.settings import Settings, SharingSettings
from events.personal import ERASED


@pytest.fixture
def settings(tmp_path, limits) -> Settings:
    # A proxied share ticks every second here (60 s or 600 s for real).
    return Settings(data_dir=tmp_path / "data", limits=limits, sharing=SharingSettings(tick_s=1))


async def _owner_with_chapter(client) -> tuple[Person, str]:
    owner = await sign_up_person(client, "olive@example.org", "Olive")
    book = (await client.get("/v1/books", headers=owner.headers)).json()["books"][0]["id"]
    made = await client.post(
        f"/v1/books/{book}/chapters", json={"title": "Owls"}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    return owner, made.json()["id"]


async def _eventually(check, *, within: float = 20.0):
    async with asyncio.timeout(within):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.1)


async def _sources(client, person: Person, chapter: str) -> list[dict]:
    listed = await client.get(f"/v1/chapters/{chapter}/sources", headers=person.headers)
    return listed.json()["sources"] if listed.status_code == 200 else []


async def test_a_direct_mirror_follows_the_owner_and_leaves_on_revocation(client):
    owner, chapter = await _owner_with_chapter(client)
    grant = {"mode": "direct", "grantee": "gus@example.org"}
    made = await client.post(f"/v1/chapters/{chapter}/shares", json=grant, headers=owner.headers)
    assert made.status_code == 201, made.text
    share = made.json()
    gus = await sign_up_person(client, "gus@example.org", "Gus")
    accepted = await client.post(
        f"/v1/shares/{share['token']}/accept", json={}, headers=gus.headers
    )
    assert accepted.status_code == 201, accepted.text
    mirror = accepted.json()
    assert mirror["share"] == share["id"] and mirror["title"] == "Owls"

    # The owner adds a source: it reaches the mirror, extracted (by the owner's ingest).
    upload = {"file": ("owls.txt", b"Snowy owls nest on the open tundra.", "text/plain")}
    await client.post(f"/v1/chapters/{chapter}/sources", files=upload, headers=owner.headers)

    async def extracted() -> list[dict]:
        found = await _sources(client, gus, mirror["id"])
        return [s for s in found if s["status"] == "extracted"]

    seen = await _eventually(extracted)
    assert [s["name"] for s in seen] == ["owls.txt"]
    # The guest searches the mirror with their own index.
    hits = await client.post(
        f"/v1/chapters/{mirror['id']}/search",
        json={"query": "where do owls nest"},
        headers=gus.headers,
    )
    assert hits.status_code == 200 and "tundra" in hits.json()["hits"][0]["text"]
    history = (await client.get(f"/v1/chapters/{mirror['id']}/history", headers=gus.headers)).json()
    assert "MirrorSynced" in {h["type"] for h in history["history"]}

    # Revoked: the mirror leaves Gus's book.
    gone = await client.delete(
        f"/v1/chapters/{chapter}/shares/{share['id']}", headers=owner.headers
    )
    assert gone.status_code == 204

    async def left() -> bool:
        read = await client.get(f"/v1/chapters/{mirror['id']}", headers=gus.headers)
        return read.status_code == 404

    await _eventually(left)
    again = await client.get(f"/v1/chapters/{mirror['id']}/sources", headers=gus.headers)
    assert_error(again, 404, "not_found")


async def test_a_proxied_mirror_gets_a_snapshot_at_once_then_each_tick(client):
    owner, chapter = await _owner_with_chapter(client)
    first = {"file": ("owls.txt", b"Snowy owls nest on the open tundra.", "text/plain")}
    await client.post(
        f"/v1/chapters/{chapter}/sources?wait=true", files=first, headers=owner.headers
    )
    grant = {"mode": "proxied", "grantee": "gus@example.org"}
    share = (
        await client.post(f"/v1/chapters/{chapter}/shares", json=grant, headers=owner.headers)
    ).json()
    gus = await sign_up_person(client, "gus@example.org", "Gus")
    accepted = await client.post(
        f"/v1/shares/{share['token']}/accept", json={}, headers=gus.headers
    )
    assert accepted.status_code == 201, accepted.text
    mirror = accepted.json()["id"]
    # The snapshot was applied at accept: the source is there at once.
    assert [s["name"] for s in await _sources(client, gus, mirror)] == ["owls.txt"]

    second = {"file": ("bees.txt", b"Honey bees dance to show where flowers are.", "text/plain")}
    await client.post(
        f"/v1/chapters/{chapter}/sources?wait=true", files=second, headers=owner.headers
    )

    async def both() -> bool:
        names = {
            s["name"] for s in await _sources(client, gus, mirror) if s["status"] == "extracted"
        }
        return names == {"owls.txt", "bees.txt"}

    await _eventually(both)
    gone = await client.delete(
        f"/v1/chapters/{chapter}/shares/{share['id']}", headers=owner.headers
    )
    assert gone.status_code == 204

    async def left() -> bool:
        return (await client.get(f"/v1/chapters/{mirror}", headers=gus.headers)).status_code == 404

    await _eventually(left)


async def test_a_guest_s_writes_and_questions_in_a_mirror_go_to_the_owner(client):
    owner, chapter = await _owner_with_chapter(client)
    first = {"file": ("owls.txt", b"Snowy owls nest on the open tundra.", "text/plain")}
    await client.post(
        f"/v1/chapters/{chapter}/sources?wait=true", files=first, headers=owner.headers
    )
    grant = {
        "mode": "direct", "grantee": "gus@example.org", "permissions": ["add", "prompt_passthrough"],
    }  # fmt: skip
    share = (
        await client.post(f"/v1/chapters/{chapter}/shares", json=grant, headers=owner.headers)
    ).json()
    gus = await sign_up_person(client, "gus@example.org", "Gus")
    mirror = (
        await client.post(f"/v1/shares/{share['token']}/accept", json={}, headers=gus.headers)
    ).json()["id"]
    await _eventually(lambda: _names_extracted(client, gus, mirror, {"owls.txt"}))

    # Gus adds a file to his mirror: it lands in the owner's chapter as the share, then comes back.
    more = {"file": ("bees.txt", b"Honey bees dance to show where flowers are.", "text/plain")}
    added = await client.post(f"/v1/chapters/{mirror}/sources", files=more, headers=gus.headers)
    assert added.status_code == 201, added.text
    assert added.json()["sources"][0]["status"] == "pending"
    history = (await client.get(f"/v1/chapters/{chapter}/history", headers=owner.headers)).json()
    assert [h["actor"] for h in history["history"] if h["type"] == "SourceAdded"][-1] == (
        f"share:{share['id']}"
    )
    await _eventually(lambda: _names_extracted(client, gus, mirror, {"owls.txt", "bees.txt"}))

    # Without `edit`, retagging in the mirror is refused by the owner's server.
    source = (await _sources(client, gus, mirror))[0]["id"]
    refused = await client.patch(
        f"/v1/chapters/{mirror}/sources/{source}", json={"tags": ["x"]}, headers=gus.headers
    )
    assert_error(refused, 403, "share_forbidden")

    # A question in the mirror is answered by the owner's model, in the owner's log.
    asked = await client.post(
        f"/v1/chapters/{mirror}/ask",
        json={"question": "Where do snowy owls nest?"},
        headers=gus.headers,
    )
    assert asked.status_code == 200, asked.text
    assert "tundra" in asked.json()["citations"][0]["text"]
    history = (await client.get(f"/v1/chapters/{chapter}/history", headers=owner.headers)).json()
    assert any(
        h["type"] == "MessagePosted" and h["actor"] == f"share:{share['id']}"
        for h in history["history"]
    )


async def _names_extracted(client, person: Person, chapter: str, names: set[str]) -> bool:
    found = await _sources(client, person, chapter)
    return {s["name"] for s in found if s["status"] == "extracted"} == names


async def test_an_expired_direct_share_loses_its_nats_credentials(client, services):
    import time

    from engine.jetstream.guest import AccessRevoked, follow_direct
    from engine.shares import NatsGrant

    owner, chapter = await _owner_with_chapter(client)
    soon = int(time.time() * 1000) + 1500
    grant = {"mode": "direct", "grantee": "gus@example.org", "expires_at": soon}
    share = (
        await client.post(f"/v1/chapters/{chapter}/shares", json=grant, headers=owner.headers)
    ).json()
    info = (await client.post(f"/v1/shares/{share['token']}/connect")).json()
    credentials = NatsGrant(**info["nats"])

    async def read() -> None:
        async for _ in follow_direct(credentials, chapter):
            pass

    reader = asyncio.create_task(read())
    await asyncio.sleep(max(0.0, (soon - time.time() * 1000) / 1000) + 0.1)
    assert await services.shares.sweep() == [share["id"]]
    with pytest.raises(AccessRevoked):
        await asyncio.wait_for(reader, 15)


async def test_a_proxied_mirror_forgets_what_its_owner_erased(client, services):
    owner, chapter = await _owner_with_chapter(client)
    secret = {"file": ("glimmer.txt", b"The Glimmerquatch owl hides in the fjord.", "text/plain")}
    up = await client.post(
        f"/v1/chapters/{chapter}/sources?wait=true", files=secret, headers=owner.headers
    )
    assert up.status_code == 201, up.text
    source = up.json()["sources"][0]["id"]
    kept = {"file": ("bees.txt", b"Honey bees dance to show where flowers are.", "text/plain")}
    await client.post(
        f"/v1/chapters/{chapter}/sources?wait=true", files=kept, headers=owner.headers
    )
    grant = {"mode": "proxied", "grantee": "gus@example.org"}
    share = (
        await client.post(f"/v1/chapters/{chapter}/shares", json=grant, headers=owner.headers)
    ).json()
    gus = await sign_up_person(client, "gus@example.org", "Gus")
    accepted = await client.post(
        f"/v1/shares/{share['token']}/accept", json={}, headers=gus.headers
    )
    assert accepted.status_code == 201, accepted.text
    mirror = accepted.json()["id"]

    async def indexed() -> bool:
        hits = await client.post(
            f"/v1/chapters/{mirror}/search", json={"query": "owl fjord"}, headers=gus.headers
        )
        return hits.status_code == 200 and "Glimmerquatch" in hits.text

    await _eventually(indexed)

    erased = await client.post(
        f"/v1/chapters/{chapter}/sources/{source}/erase", headers=owner.headers
    )
    assert erased.status_code == 200, erased.text

    async def forgotten() -> bool:  # the next tick brings the erasure
        # The source's row stays, as in the owner's chapter, reading as erased.
        names = {s["name"] for s in await _sources(client, gus, mirror)}
        return names == {ERASED, "bees.txt"}

    await _eventually(forgotten)
    await services.settled(mirror, projections=("eraser", "catalogue", "vectors", "chat"))
    words = ["Glimmerquatch", "glimmer.txt"]
    for route in ("sources", "history", "state", "events", "threads"):
        got = await client.get(f"/v1/chapters/{mirror}/{route}", headers=gus.headers)
        assert got.status_code == 200, (route, got.text)
        assert not [w for w in words if w in got.text], route
    hits = await client.post(
        f"/v1/chapters/{mirror}/search", json={"query": "owl fjord"}, headers=gus.headers
    )
    assert hits.status_code == 200 and "Glimmerquatch" not in hits.text
    text = await client.get(f"/v1/chapters/{mirror}/sources/{source}/text", headers=gus.headers)
    assert text.status_code == 404 or "Glimmerquatch" not in text.text
    blobs = services.settings.data / "blobs"
    for path in (p for p in blobs.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert b"Glimmerquatch" not in data and b"glimmer.txt" not in data, path
    # What was not erased is still mirrored.
    assert "bees.txt" in {s["name"] for s in await _sources(client, gus, mirror)}
