"""The OneDrive connector against a local server speaking Microsoft Graph's delta query and an
OAuth token endpoint (refresh tokens rotated, as Microsoft does)."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.connectors import CredentialRejected
from engine.connectors.onedrive import OneDrive
from engine.connectors.sync import held_items
from events import SourceAdded, SourceDescribed, SourceRemoved, SourceRetagged, SourceRevised
from tests.connectors.connector_support import sync_opened
from tests.connectors.oauth_support import api_client, signed_in
from tests.fakes.oauth_server import FakeOAuth
from tests.fakes.onedrive_server import FakeOneDrive

CONNECTOR = "c-onedrive"


@pytest.fixture
def onedrive():
    with FakeOneDrive(FakeOAuth(rotate=True)) as fake:
        fake.folder("LIB", "Thesis")
        fake.folder("CH1", "Chapter 1", parent="LIB")
        fake.folder("SRC", "Sources", parent="CH1")
        fake.put("i1", "outline.txt", b"an outline of the orchard thesis", parent="LIB")
        fake.put("i2", "bees.txt", b"bees visit the apple blossom", parent="SRC")
        fake.put("i3", "draft.txt", b"a first draft", parent="CH1")
        fake.put("out", "shopping.txt", b"not part of the thesis")
        fake.put("bad", "locked.pdf", b"%PDF-1.4", parent="LIB", mime="application/pdf")
        fake.unreadable.add("bad")
        yield fake


async def run(fake, log, blobs, cursor, *, source=None):
    source = source or signed_in(fake, "microsoft")[0]
    client = api_client(fake, source)
    return await sync_opened(
        client, lambda known: OneDrive(client, "LIB").with_known(known), log, blobs, CONNECTOR,
        cursor,
    )  # fmt: skip


def downloads(fake: FakeOneDrive) -> list[str]:
    return [p for _, p in fake.requests if p.endswith("/content")]


async def test_a_folder_then_its_delta(onedrive, log, blobs):
    report, bodies = await run(onedrive, log, blobs, None)
    added = {b.ref: b for b in bodies if isinstance(b, SourceAdded)}
    assert set(added) == {"i1", "i2", "i3", "bad"} and report.added == 3
    assert report.rejected == 1 and report.errors[0].ref == "bad"
    assert added["i2"].tags == ["collection:/Chapter 1/Sources"] and added["i1"].tags == []
    assert added["i1"].origin == "onedrive"
    assert await blobs.get(added["i2"].blob) == b"bees visit the apple blossom"
    # The download URL is on another origin: the access token does not follow the redirect.
    assert all("authorization" not in h for h in onedrive.download_headers)

    onedrive.requests.clear()
    again, bodies = await run(onedrive, log, blobs, report.cursor)
    assert bodies == [] and downloads(onedrive) == []

    onedrive.put("i1", "outline.txt", b"a longer outline of the orchard thesis")
    onedrive.rename("i3", "draft-2.txt")
    onedrive.move("i2", "LIB")
    onedrive.delete("bad")
    onedrive.put("out", "shopping.txt", b"pears")
    onedrive.requests.clear()
    report, bodies = await run(onedrive, log, blobs, again.cursor)
    assert Counter(type(b).__name__ for b in bodies) == {
        "SourceRevised": 1, "SourceDescribed": 1, "SourceRetagged": 1, "SourceRemoved": 1,
    }  # fmt: skip
    held = await held_items(log, blobs, CONNECTOR)
    assert next(b for b in bodies if isinstance(b, SourceRevised)).source == held["i1"].source
    assert next(b for b in bodies if isinstance(b, SourceDescribed)).meta.title == "draft-2.txt"
    assert next(b for b in bodies if isinstance(b, SourceRetagged)).tags == []
    assert next(b for b in bodies if isinstance(b, SourceRemoved)).source == held["bad"].source
    assert downloads(onedrive) == ["/me/drive/items/i1/content"]

    onedrive.rename("CH1", "Part One")  # everything under it is retagged
    report, bodies = await run(onedrive, log, blobs, report.cursor)
    assert [(type(b), b.tags) for b in bodies] == [(SourceRetagged, ["collection:/Part One"])]

    onedrive.delete("CH1")  # only the folder is reported: the draft under it goes too
    report, bodies = await run(onedrive, log, blobs, report.cursor)
    assert [type(b) for b in bodies] == [SourceRemoved]
    assert bodies[0].source == held["i3"].source


async def test_a_rotated_refresh_token_is_saved_and_a_revoked_one_rejected(onedrive, log, blobs):
    source, saved = signed_in(onedrive, "microsoft")
    onedrive.oauth.expire_access()
    report, _ = await run(onedrive, log, blobs, None, source=source)
    assert report.added == 3 and len(saved) == 1
    assert saved[0].refresh_token in onedrive.oauth.refresh_tokens  # the new one, kept
    onedrive.oauth.revoke()
    with pytest.raises(CredentialRejected, match="OneDrive no longer accepts"):
        await run(onedrive, log, blobs, report.cursor, source=source)
