"""A copy share's snapshot over HTTP: the manifest at the chapter's head, for the guest's server
to import (here the same server), with the token in a header and clear refusals."""

from __future__ import annotations

from gateway_support import assert_error
from isolation_support import sign_up_person

from engine.blobs import LocalBlobStore
from engine.copies import import_copy, verify_copy_chapter
from events import SourceRetagged
from events.copies import check_manifest, check_signed, decode_manifest

URL = "/v1/shares/snapshot"


async def _shared_chapter(client, services, mode: str = "copy") -> tuple[str, dict]:
    owner = await sign_up_person(client, "olive@example.org", "Olive")
    book = (await client.get("/v1/books", headers=owner.headers)).json()["books"][0]["id"]
    made = await client.post(
        f"/v1/books/{book}/chapters", json={"title": "Owls"}, headers=owner.headers
    )
    chapter = made.json()["id"]
    for name in ("a.txt", "b.txt"):
        files = {"file": (name, f"About owls, {name}".encode(), "text/plain")}
        added = await client.post(
            f"/v1/chapters/{chapter}/sources", files=files, headers=owner.headers
        )
        assert added.status_code == 201, added.text
    share = await client.post(
        f"/v1/chapters/{chapter}/shares",
        json={"mode": mode, "grantee": "guest@example.org", "scope": ["sources"]},
        headers=owner.headers,
    )
    assert share.status_code == 201, share.text
    return chapter, share.json()


async def test_a_copy_share_serves_its_manifest_at_the_head_now(client, services, tmp_path):
    chapter, share = await _shared_chapter(client, services)
    # The owner goes on after the grant: the snapshot is taken when asked, so it has this too.
    log = services.logs.chapter(chapter)
    await log.append(SourceRetagged(source="x", tags=["late"]), actor="olive")
    head = await log.head()

    got = await client.get(URL, headers={"X-Share-Token": share["token"]})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/x-msgpack"
    manifest = decode_manifest(got.content)
    assert (manifest.from_chapter, manifest.from_rev, manifest.from_head) == (
        chapter,
        head.rev,
        head.hex,
    )
    assert manifest.scope == ["sources"] and check_manifest(manifest).ok
    assert manifest.events[-1].rev == head.rev  # the late retag is in it
    # The head was an unsigned change: it was signed for the copy, and the copy is proved
    # against that signature, by the book's key the keys route lists.
    signed = await log.get(head.rev + 1)
    assert signed is not None and manifest.signed_head == signed.payload
    book_keys = await services.keys.history_of_chapter(chapter)
    proved = check_signed(manifest, book_keys, required=True)
    assert proved.ok and proved.signed and proved.signed_by == book_keys.current.key

    # The guest's server imports it (here: the same server, whose store has every blob; a
    # second store shows the blobs coming across).
    guest = await sign_up_person(client, "guest@example.org", "Gus")
    guest_book = (await client.get("/v1/books", headers=guest.headers)).json()["books"][0]["id"]
    guest_blobs = LocalBlobStore(tmp_path / "guest-blobs")
    copy = await import_copy(
        services.books, services.logs, guest_blobs, actor=guest.id, book=guest_book,
        title="Owls", share=share["id"], manifest=got.content, fetch_blob=services.blobs.get,
    )  # fmt: skip
    report = await verify_copy_chapter(services.logs, guest_blobs, copy, require_signed=True)
    assert report.ok and report.checked == len(manifest.events) and report.signed
    listed = (await client.get(f"/v1/books/{guest_book}/chapters", headers=guest.headers)).json()
    assert copy in {c["id"] for c in listed["chapters"]}


async def test_only_a_copy_share_in_force_has_a_snapshot(client, services):
    chapter, share = await _shared_chapter(client, services, mode="proxied")
    error = assert_error(
        await client.get(URL, headers={"X-Share-Token": share["token"]}), 409, "not_a_copy_share"
    )
    assert "proxied" in error["message"]
    assert_error(
        await client.get(URL, headers={"X-Share-Token": "x" * 40}), 404, "invalid_share_token"
    )
    assert (await client.get(URL)).status_code == 401  # no token at all
    await services.shares.revoke("", chapter, share["id"], check=False)
    assert_error(
        await client.get(URL, headers={"X-Share-Token": share["token"]}), 403, "share_ended"
    )
