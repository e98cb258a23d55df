"""Dropbox and OneDrive connected over HTTP the way Google Drive is (test_gateway_oauth.py):
signed in through the browser flow, then synced by the server from the operator's endpoints
(Dropbox's separate content host, Graph's API root)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from gateway_support import bearer, sign_up
from sources_support import new_chapter

from app.settings import load_settings
from tests.fakes.dropbox_server import FakeDropbox
from tests.fakes.onedrive_server import FakeOneDrive


@pytest.fixture
def dropbox():
    with FakeDropbox() as fake:
        fake.folder("/Research")
        fake.put("id:a1", "/Research/plan.txt", b"plant the orchard")
        yield fake


@pytest.fixture
def onedrive():
    with FakeOneDrive() as fake:
        fake.folder("LIB", "Thesis")
        fake.put("i1", "outline.txt", b"an outline of the orchard thesis", parent="LIB")
        fake.put("i2", "bees.txt", b"bees visit the apple blossom", parent="LIB")
        yield fake


@pytest.fixture
def settings(tmp_path: Path, dropbox: FakeDropbox, onedrive: FakeOneDrive):
    return load_settings(
        environ={}, data_dir=str(tmp_path / "data"), llm={"kind": "extractive"},
        web={"allow_private_addresses": True},
        connectors={"sync_interval_s": 0, "oauth": {**dropbox.settings("dropbox"),
                                                    **onedrive.settings("microsoft")}},
    )  # fmt: skip


@pytest.mark.parametrize(("provider", "library", "added"),
                         [("dropbox", "/Research", 1), ("microsoft", "LIB", 2)])  # fmt: skip
async def test_a_drive_is_connected_and_synced(client, dropbox, onedrive, provider, library, added):
    fake = dropbox if provider == "dropbox" else onedrive
    headers = bearer(await sign_up(client))
    chapter = await new_chapter(client, headers)
    started = await client.post(f"/v1/chapters/{chapter}/connectors/oauth/{provider}/start",
                                json={"library": library}, headers=headers)  # fmt: skip
    code, state, _ = fake.oauth.approve(started.json()["authorize_url"])
    back = await client.get("/v1/connectors/oauth/callback", params={"code": code, "state": state})
    connector = dict(parse_qsl(urlsplit(back.headers["location"]).query))["connector"]
    synced = await client.post(f"/v1/chapters/{chapter}/connectors/{connector}/sync",
                               headers=headers)  # fmt: skip
    assert synced.status_code == 200, synced.text
    assert synced.json()["report"]["added"] == added
    assert synced.json()["kind"] == {"dropbox": "dropbox", "microsoft": "onedrive"}[provider]
