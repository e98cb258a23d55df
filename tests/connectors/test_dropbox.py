"""The Dropbox connector against a local server speaking Dropbox API v2 and an OAuth token
endpoint: a folder listed, then its changes by cursor (moves, deletions, a deleted folder)."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.connectors import CredentialRejected
from engine.connectors.dropbox import Dropbox, check_dropbox_path
from engine.connectors.sync import held_items
from engine.rules import Invalid
from events import SourceAdded, SourceDescribed, SourceRemoved, SourceRetagged, SourceRevised
from tests.connectors.connector_support import sync_opened
from tests.connectors.oauth_support import api_client, signed_in
from tests.fakes.dropbox_server import FakeDropbox

CONNECTOR = "c-dropbox"


@pytest.fixture
def dropbox():
    with FakeDropbox() as fake:
        fake.folder("/Research")
        fake.folder("/Research/Field Notes")
        fake.folder("/Research/Field Notes/2026")
        fake.folder("/Other")
        fake.put("id:a1", "/Research/plan.txt", b"plant the orchard")
        fake.put("id:a2", "/Research/Field Notes/2026/june.md", b"# June\nbees")
        fake.put("id:a3", "/Research/Field Notes/july.md", b"# July\nrain")
        fake.put("id:o1", "/Other/not-ours.txt", b"elsewhere")
        fake.put("id:bad", "/Research/locked.pdf", b"%PDF-1.4 locked")
        fake.restricted.add("id:bad")
        yield fake


async def run(fake, log, blobs, cursor, *, source=None):
    source = source or signed_in(fake, "dropbox")[0]
    client = api_client(fake, source)
    return await sync_opened(
        client, lambda known: Dropbox(client, "/Research", content_url=fake.base_url)
        .with_known(known), log, blobs, CONNECTOR, cursor,
    )  # fmt: skip


def downloads(fake: FakeDropbox) -> int:
    return sum(1 for _, p in fake.requests if p == "/2/files/download")


async def test_a_folder_then_its_changes_by_cursor(dropbox, log, blobs):
    report, bodies = await run(dropbox, log, blobs, None)
    added = {b.ref: b for b in bodies if isinstance(b, SourceAdded)}
    assert set(added) == {"id:a1", "id:a2", "id:a3", "id:bad"} and report.added == 3
    assert report.rejected == 1 and "restricted_content" in report.errors[0].message
    assert added["id:a2"].tags == ["collection:/Field Notes/2026"]
    assert added["id:a1"].tags == [] and added["id:a1"].origin == "dropbox"
    assert added["id:a2"].media_type == "text/markdown" and added["id:a2"].name == "june.md"
    assert await blobs.get(added["id:a1"].blob) == b"plant the orchard"

    dropbox.requests.clear()
    again, bodies = await run(dropbox, log, blobs, report.cursor)
    assert bodies == [] and downloads(dropbox) == 0

    dropbox.put("id:a1", "/Research/plan.txt", b"plant the orchard, then the meadow")
    dropbox.move("id:a2", "/Research/june-2026.md")  # moved up and renamed
    dropbox.delete("id:bad")
    dropbox.put("id:o1", "/Other/not-ours.txt", b"still elsewhere")
    dropbox.requests.clear()
    report, bodies = await run(dropbox, log, blobs, again.cursor)
    assert Counter(type(b).__name__ for b in bodies) == {
        "SourceRevised": 1, "SourceRetagged": 1, "SourceDescribed": 1, "SourceRemoved": 1,
    }  # fmt: skip
    held = await held_items(log, blobs, CONNECTOR)
    assert next(b for b in bodies if isinstance(b, SourceRevised)).source == held["id:a1"].source
    assert next(b for b in bodies if isinstance(b, SourceRetagged)).tags == []
    assert next(b for b in bodies if isinstance(b, SourceDescribed)).meta.title == "june-2026.md"
    assert next(b for b in bodies if isinstance(b, SourceRemoved)).source == held["id:bad"].source
    assert downloads(dropbox) == 1  # the moved file's content_hash is the same: not downloaded

    dropbox.delete_folder("/Research/Field Notes")  # only the folder is named: its files go too
    report, bodies = await run(dropbox, log, blobs, report.cursor)
    assert [type(b) for b in bodies] == [SourceRemoved]
    assert bodies[0].source == held["id:a3"].source


async def test_an_expired_token_is_refreshed_and_a_revoked_one_is_rejected(dropbox, log, blobs):
    source, saved = signed_in(dropbox, "dropbox")
    dropbox.oauth.expire_access()
    report, _ = await run(dropbox, log, blobs, None, source=source)
    assert report.added == 3 and source.refreshes == 1 and len(saved) == 1
    dropbox.oauth.revoke()
    with pytest.raises(CredentialRejected, match="reconnect"):
        await run(dropbox, log, blobs, report.cursor, source=source)


def test_a_folder_path_is_checked():
    assert check_dropbox_path("/Research/") == "/Research" and check_dropbox_path("") == ""
    with pytest.raises(Invalid):
        check_dropbox_path("Research")
