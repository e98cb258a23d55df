"""The proxied feed and the guests' blobs over HTTP, with a 1 s relay tick.

A guest holds the owner's chapter up to the last tick's watermark: nothing new between ticks,
everything (compacted) at the tick; a new guest gets a snapshot at once; however many guests
poll, the relay reads the owner's log once per tick; a revoked share is refused at once. Blobs
are served only when an in-scope event of the shared chapter refers to them.
"""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from gateway_support import assert_error
from isolation_support import Person, sign_up_person
from sources_support import upload

import rust_core
from app.relay import IDLE_TICKS
from app.settings import Settings, SharingSettings
from engine.sources import edit_source

TEXT = "Barn owls hunt at night.\n\nThey nest in old barns and hollow trees.\n"


@pytest.fixture
def settings(tmp_path, limits) -> Settings:
    return Settings(data_dir=tmp_path / "data", limits=limits, sharing=SharingSettings(tick_s=1))


async def _owner_with_source(client) -> tuple[Person, str, str]:
    owner = await sign_up_person(client, "olive@example.org", "Olive")
    book = (await client.get("/v1/books", headers=owner.headers)).json()["books"][0]["id"]
    made = await client.post(
        f"/v1/books/{book}/chapters", json={"title": "Owls"}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    chapter = made.json()["id"]
    added = await upload(
        client, chapter, owner.headers, [("owls.txt", TEXT.encode(), "text/plain")], wait=True
    )
    assert added.status_code == 201, added.text
    return owner, chapter, added.json()["sources"][0]["id"]


async def _grant(client, owner: Person, chapter: str, **body) -> dict:
    body = {"mode": "proxied", "grantee": "guest@example.org", **body}
    made = await client.post(f"/v1/chapters/{chapter}/shares", json=body, headers=owner.headers)
    assert made.status_code == 201, made.text
    return made.json()


def _token(share: dict) -> dict[str, str]:
    return {"X-Share-Token": share["token"]}


async def _feed(client, share: dict, after: int) -> dict:
    got = await client.get("/v1/shares/feed", params={"after": after}, headers=_token(share))
    assert got.status_code == 200, got.text
    return got.json()


async def _until_tick(batch: dict) -> None:
    """Sleep until just after the tick the batch announced."""
    await asyncio.sleep(max(0.0, batch["next_tick_at"] / 1000 - time.time()) + 0.2)


async def _next_watermark(client, share: dict, batch: dict) -> dict:
    """The batch of the next tick after `batch`'s (asked just after it)."""
    await _until_tick(batch)
    return await _feed(client, share, batch["rev"])


async def test_nothing_between_ticks_everything_compacted_at_the_tick(client, services):
    owner, chapter, source = await _owner_with_source(client)
    share = await _grant(client, owner, chapter)

    # A first guest: a snapshot at once (no tick had run: the relay reads now).
    first = await _feed(client, share, 0)
    assert (
        first["snapshot"] is True and first["chapter"] == chapter and first["share"] == share["id"]
    )
    head = await services.logs.chapter(chapter).head()
    assert (first["rev"], first["head"]) == (head.rev, head.hex)
    types = [e["type"] for e in first["events"]]
    assert types == ["SourceAdded", "SourceExtracted"]  # the grant is no guest's business
    added, extracted = first["events"]
    # The source's name travels sealed: its personal blob is one the guest fetches.
    assert added["name"] == "" and added["sealed"] is not None
    assert set(first["blobs"]) == {added["blob"], extracted["text_blob"], added["sealed"]}

    # Just after a tick, the owner edits the text three times.
    batch = await _next_watermark(client, share, first)
    assert batch["events"] == []
    base = extracted["text_blob"]
    log, text = services.logs.chapter(chapter), TEXT
    for i in range(3):
        new = text + f"Edit {i}.\n"
        await edit_source(
            log, services.blobs, actor="u", source=source, base_text=rust_core.hash(text.encode()).hex(),
            new_text=new,
        )  # fmt: skip
        text = new
    assert time.time() * 1000 < batch["next_tick_at"]

    # Between ticks the guest gets nothing new, however often it asks.
    for _ in range(3):
        same = await _feed(client, share, batch["rev"])
        assert same["events"] == [] and same["rev"] == batch["rev"]

    # At the tick: the three edits as one, whose patch turns the base text into the last.
    ticked = await _next_watermark(client, share, batch)
    assert ticked["rev"] >= batch["rev"] + 3 and ticked["snapshot"] is False
    edits = [e for e in ticked["events"] if e["type"] == "SourceEdited"]
    assert len(edits) == 1 and edits[0]["base_text"] == base
    # The guest fetches the base text with its token and applies the patch.
    base_bytes = await client.get(f"/v1/shares/blobs/{base}", headers=_token(share))
    assert base_bytes.status_code == 200 and base_bytes.content == TEXT.encode()
    patch = base64.b64decode(edits[0]["patch"])
    assert rust_core.patch(base_bytes.text, patch) == text
    assert edits[0]["new_text"] in ticked["blobs"]


async def test_many_guests_cost_one_owner_read_per_tick(client, services):
    owner, chapter, _ = await _owner_with_source(client)
    one = await _grant(client, owner, chapter)
    two = await _grant(client, owner, chapter, grantee="second@example.org")
    relay = services.relay
    assert relay is not None and relay.reads(chapter) == 0

    start = await _feed(client, one, 0)
    assert relay.reads(chapter) == 1
    other = await _feed(client, two, 0)  # the same watermark: no second read
    assert relay.reads(chapter) == 1 and other["rev"] == start["rev"]

    # Both poll ten times a second for about two and a half ticks.
    began, polls = time.monotonic(), 0
    while time.monotonic() - began < 2.5:
        for share in (one, two):
            await _feed(client, share, start["rev"])
            polls += 1
        await asyncio.sleep(0.1)
    ticks = relay.reads(chapter) - 1
    assert polls >= 20 and 1 <= ticks <= 3


async def test_a_new_guest_gets_a_snapshot_at_once_at_the_watermark(client, services):
    owner, chapter, source = await _owner_with_source(client)
    first = await _grant(client, owner, chapter)
    batch = await _next_watermark(client, first, await _feed(client, first, 0))
    # The owner adds a source after the tick; a guest arriving now gets the tick's state.
    await upload(client, chapter, owner.headers, [("b.txt", b"Tawny owls.\n", "text/plain")])
    late = await _grant(client, owner, chapter, grantee="late@example.org")
    asked = time.monotonic()
    snap = await _feed(client, late, 0)
    assert time.monotonic() - asked < 0.5
    assert snap["snapshot"] is True and snap["rev"] == batch["rev"]
    assert [e["source"] for e in snap["events"] if e["type"] == "SourceAdded"] == [source]


async def test_a_revoked_share_is_refused_at_once(client):
    owner, chapter, _ = await _owner_with_source(client)
    share = await _grant(client, owner, chapter)
    await _feed(client, share, 0)
    gone = await client.delete(
        f"/v1/chapters/{chapter}/shares/{share['id']}", headers=owner.headers
    )
    assert gone.status_code == 204
    got = await client.get("/v1/shares/feed", params={"after": 0}, headers=_token(share))
    assert_error(got, 403, "share_ended")


async def test_blobs_are_served_only_when_an_in_scope_event_refers_to_them(client, services):
    owner, chapter, _ = await _owner_with_source(client)
    share = await _grant(client, owner, chapter, mode="copy")
    threads_only = await _grant(client, owner, chapter, grantee="t@example.org", scope=["threads"])
    original = rust_core.hash(TEXT.encode()).hex()

    # In scope: the original upload, to a copy guest too (blobs serve every mode).
    got = await client.get(f"/v1/shares/blobs/{original}", headers=_token(share))
    assert got.status_code == 200 and got.content == TEXT.encode()

    # A blob of another chapter of the same owner, or one that exists nowhere: the same 404.
    book = (await client.get("/v1/books", headers=owner.headers)).json()["books"][0]["id"]
    other = await client.post(
        f"/v1/books/{book}/chapters", json={"title": "Bats"}, headers=owner.headers
    )
    await upload(
        client, other.json()["id"], owner.headers, [("bats.txt", b"Bats.\n", "text/plain")]
    )
    elsewhere = rust_core.hash(b"Bats.\n").hex()
    assert await services.blobs.exists(elsewhere)
    for blob in (elsewhere, "0" * 64):
        got = await client.get(f"/v1/shares/blobs/{blob}", headers=_token(share))
        assert_error(got, 404, "blob_not_found")
    # Out of the share's scope: a threads-only guest gets no source's bytes.
    got = await client.get(f"/v1/shares/blobs/{original}", headers=_token(threads_only))
    assert_error(got, 404, "blob_not_found")
    # A wrong token opens nothing.
    got = await client.get(f"/v1/shares/blobs/{original}", headers={"X-Share-Token": "x" * 40})
    assert_error(got, 404, "invalid_share_token")


async def test_the_feed_serves_proxied_shares_only(client):
    owner, chapter, _ = await _owner_with_source(client)
    copy = await _grant(client, owner, chapter, mode="copy")
    got = await client.get("/v1/shares/feed", params={"after": 0}, headers=_token(copy))
    body = assert_error(got, 409, "not_proxied")
    assert "proxied shares only" in body["message"]
    proxied = await _grant(client, owner, chapter, grantee="p@example.org")
    past = await client.get("/v1/shares/feed", params={"after": 10**6}, headers=_token(proxied))
    assert_error(past, 422, "invalid_argument")
    wrong = await client.get("/v1/shares/feed", headers={"X-Share-Token": "y" * 40})
    assert_error(wrong, 404, "invalid_share_token")


async def test_a_chapter_nobody_asks_for_stops_being_read(client, services):
    owner, chapter, _ = await _owner_with_source(client)
    share = await _grant(client, owner, chapter)
    relay = services.relay
    assert relay is not None and not relay.running(chapter)  # nothing runs before a guest asks
    first = await _feed(client, share, 0)
    assert relay.running(chapter)

    # No guest for more than IDLE_TICKS ticks: the loop stops, and reads nothing more.
    await asyncio.sleep(IDLE_TICKS + 1.5)
    assert not relay.running(chapter)
    reads = relay.reads(chapter)
    await asyncio.sleep(1.2)
    assert relay.reads(chapter) == reads

    # The next request reads at once and starts the loop again.
    again = await _feed(client, share, first["rev"])
    assert relay.reads(chapter) == reads + 1 and relay.running(chapter)
    assert again["rev"] == first["rev"]
