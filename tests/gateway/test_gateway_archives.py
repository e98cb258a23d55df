"""Archives over HTTP against real services: a chapter exported as a tar verifies offline and
imports into another person's book as a new chapter; a truncated or altered archive is a 422
naming what is wrong, with nothing imported."""

from __future__ import annotations

import httpx
import pytest
from gateway_support import assert_error, bearer, sign_up

from app.services import Services
from engine.copies import verify_copy_chapter
from engine.settings import Limits
from engine.sources import add_source
from events import ChapterForked, SourceAdded
from events.archive import ARCHIVE_MEDIA_TYPE
from events.archive_check import verify_archive_file


@pytest.fixture
def limits() -> Limits:
    return Limits(requests_per_minute_token=0, requests_per_minute_address=0)


async def _book(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    made = await client.post("/v1/books", json={"name": name}, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def test_export_then_import_round_trips(client, services: Services, tmp_path):
    ada = bearer(await sign_up(client))
    book = await _book(client, ada, "Survey")
    made = await client.post(
        f"/v1/books/{book}/chapters", json={"title": "Lighthouses"}, headers=ada
    )
    chapter = made.json()["id"]
    me = (await client.get("/v1/me", headers=ada)).json()["id"]
    log = services.logs.chapter(chapter)
    await add_source(log, services.blobs, actor=me, name="wick.txt", data=b"Buy more wick.",
                     media_type="text/plain")  # fmt: skip
    signed = await client.post(f"/v1/chapters/{chapter}/heads", headers=ada)
    assert signed.status_code == 201, signed.text

    # Export: a tar, named after the chapter and its rev, that verifies offline.
    exported = await client.get(f"/v1/chapters/{chapter}/export", headers=ada)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == ARCHIVE_MEDIA_TYPE
    head = await log.head()
    assert f"{chapter}-rev{head.rev}.tar" in exported.headers["content-disposition"]
    path = tmp_path / "lighthouses.tar"
    path.write_bytes(exported.content)
    report = verify_archive_file(path)
    assert report.ok and report.head == head.hex and report.signed == 1, report

    # Import into Bob's book: a new chapter forked from the archive's signed head (the export
    # ends with it), every fact proved against that signed root.
    bob = bearer(await sign_up(client, "bob@example.org"))
    bobs = await _book(client, bob, "Bob's")
    imported = await client.post(
        f"/v1/books/{bobs}/imports", content=exported.content,
        headers={**bob, "Content-Type": ARCHIVE_MEDIA_TYPE}, params={"title": "Imported"},
    )  # fmt: skip
    assert imported.status_code == 201, imported.text
    copy = imported.json()
    assert copy["id"] != chapter and copy["title"] == "Imported"
    bodies = [e.envelope.body async for e in services.logs.chapter(copy["id"]).read()]
    assert isinstance(bodies[0], ChapterForked)
    signed_rev = signed.json()["signed_rev"]
    at_signed = (await log.get(signed_rev)).hash.hex()
    assert (bodies[0].from_chapter, bodies[0].from_rev, bodies[0].from_head) == (
        chapter, signed_rev, at_signed,
    )  # fmt: skip
    assert [type(b) for b in bodies[1:2]] == [SourceAdded]
    proved = await verify_copy_chapter(
        services.logs, services.blobs, copy["id"], require_signed=True
    )
    assert proved.ok and proved.signed, proved.reason
    listed = await client.get(f"/v1/books/{bobs}/chapters", headers=bob)
    assert [c["id"] for c in listed.json()["chapters"]] == [copy["id"]]

    # Bad archives: cut short, or one payload byte altered (the file hash catches it).
    for bad in (exported.content[:3000], _altered(exported.content)):
        refused = await client.post(
            f"/v1/books/{bobs}/imports", content=bad,
            headers={**bob, "Content-Type": ARCHIVE_MEDIA_TYPE},
        )  # fmt: skip
        assert_error(refused, 422, "archive_rejected")
    listed = await client.get(f"/v1/books/{bobs}/chapters", headers=bob)
    assert len(listed.json()["chapters"]) == 1


def _altered(data: bytes) -> bytes:
    at = data.index(b'"payload":"') + 20
    swapped = b"B" if data[at : at + 1] != b"B" else b"C"
    return data[:at] + swapped + data[at + 1 :]
