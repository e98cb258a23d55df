"""The Google Drive connector against a local server speaking Drive API v3 and an OAuth token
endpoint: a folder tree synced, then its changes; tokens refreshed on a 401; a revoked grant."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from engine.connectors import CredentialRejected
from engine.connectors.google_drive import GoogleDrive, check_folder, throttled
from engine.connectors.http import ServiceClient
from engine.connectors.sync import held_items
from engine.rules import Invalid
from events import SourceAdded, SourceDescribed, SourceRemoved, SourceRetagged, SourceRevised
from tests.connectors.connector_support import Sleeps, sync_opened
from tests.connectors.oauth_support import api_client, signed_in
from tests.fakes.drive_server import DOC, FakeDrive

CONNECTOR = "c-drive"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def drive():
    with FakeDrive() as fake:
        fake.folder("LIB", "Library")
        fake.folder("REP", "Reports", parent="LIB")
        fake.folder("Y26", "2026", parent="REP")
        fake.put("f1", "notes.txt", b"orchard notes", parent="LIB")
        fake.put("f2", "q1.txt", b"quarter one", parent="Y26")
        fake.put("d1", "Plan", b"exported plan bytes", parent="REP", mime=DOC)
        fake.put("x1", "elsewhere.txt", b"not in the library", parent="root")
        fake.put("bad", "locked.txt", b"locked", parent="LIB")
        fake.unreadable.add("bad")
        yield fake


async def run(fake, log, blobs, cursor, *, source=None, sleeps=None):
    source = source or signed_in(fake, "google")[0]
    client = api_client(fake, source, sleeps)
    return await sync_opened(
        client, lambda known: GoogleDrive(client, "LIB").with_known(known), log, blobs,
        CONNECTOR, cursor,
    )  # fmt: skip


def downloads(fake: FakeDrive) -> list[str]:
    return [p for _, p in fake.requests if p.startswith("/drive/v3/files/")]


async def test_a_folder_tree_then_its_changes(drive, log, blobs, caplog):
    caplog.set_level(logging.DEBUG)
    report, bodies = await run(drive, log, blobs, None)
    added = {b.ref: b for b in bodies if isinstance(b, SourceAdded)}
    assert set(added) == {"f1", "f2", "d1", "bad"} and report.added == 3
    assert report.rejected == 1 and report.errors[0].ref == "bad"
    assert added["f1"].origin == "google_drive" and added["f1"].tags == []
    assert added["f2"].tags == ["collection:/Reports/2026"]
    assert added["d1"].name == "Plan.docx" and added["d1"].media_type == DOCX
    assert await blobs.get(added["d1"].blob) == b"exported plan bytes"
    assert added["f2"].meta.title == "q1.txt" and added["f2"].meta.year == 2026

    drive.requests.clear()
    again, bodies = await run(drive, log, blobs, report.cursor)
    assert bodies == [] and again.listed == 0 and downloads(drive) == []

    drive.put("f1", "notes.txt", b"orchard notes, revised")
    drive.rename("f2", "q1-final.txt")
    drive.move("d1", "LIB")
    drive.delete("bad")
    drive.put("x1", "elsewhere.txt", b"still not ours")
    drive.requests.clear()
    report, bodies = await run(drive, log, blobs, again.cursor)
    assert Counter(type(b).__name__ for b in bodies) == {
        "SourceRevised": 1, "SourceDescribed": 1, "SourceRetagged": 1, "SourceRemoved": 1,
    }  # fmt: skip
    held = await held_items(log, blobs, CONNECTOR)
    assert next(b for b in bodies if isinstance(b, SourceRevised)).source == held["f1"].source
    assert next(b for b in bodies if isinstance(b, SourceDescribed)).meta.title == "q1-final.txt"
    assert next(b for b in bodies if isinstance(b, SourceRetagged)).tags == []
    assert next(b for b in bodies if isinstance(b, SourceRemoved)).source == held["bad"].source
    # A renamed file is not downloaded again (its md5Checksum is the same); a Google Doc has no
    # checksum and its version moves with any change, so it is exported again, appending nothing.
    assert downloads(drive) == ["/drive/v3/files/f1", "/drive/v3/files/d1/export"]

    drive.folder("Y26", "Year 2026", parent="REP")  # renamed: everything under it is retagged
    drive.trash("f1")
    report, bodies = await run(drive, log, blobs, report.cursor)
    assert Counter(type(b).__name__ for b in bodies) == {"SourceRetagged": 1, "SourceRemoved": 1}
    assert next(b for b in bodies if isinstance(b, SourceRetagged)).tags == [
        "collection:/Reports/Year 2026"
    ]
    assert "do-not-leak" not in caplog.text and "do-not-leak" not in repr(bodies)


async def test_an_expired_access_token_is_refreshed_once_and_saved(drive, log, blobs):
    source, saved = signed_in(drive, "google")
    drive.oauth.expire_access()
    report, _ = await run(drive, log, blobs, None, source=source)
    assert report.added == 3 and source.refreshes == 1 and len(saved) == 1
    assert drive.oauth.grants == ["refresh_token"]
    assert saved[0].refresh_token is not None  # Google keeps the refresh token: it is kept too
    assert all(a.startswith("Bearer access-") for a in drive.authorizations)


async def test_a_revoked_grant_is_a_rejected_credential_that_says_reconnect(drive, log, blobs):
    source, saved = signed_in(drive, "google")
    drive.oauth.revoke()
    with pytest.raises(CredentialRejected, match="reconnect") as caught:
        await run(drive, log, blobs, None, source=source)
    assert saved == []
    assert "invalid_grant" in str(caught.value) and "do-not-leak" not in str(caught.value)


async def test_a_429_and_a_rate_limit_403_are_waited_out(drive, log, blobs):
    drive.fail_next(429, retry_after="3")
    drive.fail_next(403, body={"error": {"code": 403, "message": "Rate Limit Exceeded",
                                         "errors": [{"reason": "userRateLimitExceeded"}]}})  # fmt: skip
    sleeps = Sleeps()
    source = signed_in(drive, "google")[0]
    client = ServiceClient(drive.base_url, service="Google Drive", headers={}, auth=source,
                           allow_private=True, sleep=sleeps, throttled=throttled)  # fmt: skip
    report, _ = await sync_opened(
        client, lambda known: GoogleDrive(client, "LIB").with_known(known), log, blobs,
        CONNECTOR, None,
    )  # fmt: skip
    assert report.added == 3 and sleeps == [3.0, 2.0]  # the 403 had no Retry-After: backoff


def test_a_folder_id_that_could_break_the_query_is_refused():
    assert check_folder(" root ") == "root"
    with pytest.raises(Invalid):
        check_folder("x' or 'a' in parents")
