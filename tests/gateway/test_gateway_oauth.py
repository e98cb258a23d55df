"""Connecting a chapter by signing in, over HTTP: the browser flow (authorize URL with PKCE, the
provider's redirect to the callback, the connector made, the browser sent to the chapter page),
the device flow (pending, slow_down, the tokens; refused; expired), single-use state, a provider
the operator has not set up, and a revoked grant shown on the connector as "reconnect". The
provider is a local server speaking Google Drive's API and an OAuth token endpoint; no token or
client secret appears in an answer, a log line or the chapter's events."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from gateway_support import assert_error, bearer, sign_up
from sources_support import new_chapter

from app.settings import load_settings
from tests.fakes.drive_server import FakeDrive

SECRET_MARK = "do-not-leak"


@pytest.fixture
def drive():
    with FakeDrive() as fake:
        fake.folder("LIB", "Library")
        fake.folder("REP", "Reports", parent="LIB")
        fake.put("f1", "notes.txt", b"the orchard blooms in May", parent="LIB")
        fake.put("f2", "q1.txt", b"quarter one ledger", parent="REP")
        fake.put("bad", "locked.txt", b"locked", parent="LIB")
        fake.unreadable.add("bad")
        yield fake


@pytest.fixture
def settings(tmp_path: Path, drive: FakeDrive):
    return load_settings(
        environ={}, data_dir=str(tmp_path / "data"), llm={"kind": "extractive"},
        web={"allow_private_addresses": True},
        connectors={"sync_interval_s": 0, "oauth": drive.settings("google")},
    )  # fmt: skip


async def _chapter(client, email="ada@example.org"):
    headers = bearer(await sign_up(client, email=email))
    return headers, await new_chapter(client, headers)


async def _connect(client, drive, headers, chapter):
    started = await client.post(f"/v1/chapters/{chapter}/connectors/oauth/google/start",
                                json={"library": "LIB"}, headers=headers)  # fmt: skip
    assert started.status_code == 201, started.text
    code, state, redirect = drive.oauth.approve(started.json()["authorize_url"])
    assert redirect == "http://ragstack.test/v1/connectors/oauth/callback"
    back = await client.get("/v1/connectors/oauth/callback", params={"code": code, "state": state})
    assert back.status_code == 303, back.text
    return started.json()["flow"], state, back.headers["location"]


async def test_the_browser_flow_makes_a_connector_that_syncs(client, drive, services, caplog):
    caplog.set_level(logging.DEBUG)
    headers, chapter = await _chapter(client)
    listed = (await client.get("/v1/connectors/oauth/providers", headers=headers)).json()
    by_name = {p["name"]: p for p in listed["providers"]}
    assert by_name["google"]["configured"] and not by_name["dropbox"]["configured"]
    assert by_name["google"]["scopes"] == ["https://www.googleapis.com/auth/drive.readonly"]

    flow, state, location = await _connect(client, drive, headers, chapter)
    page = urlsplit(location)
    assert page.path == f"/chapters/{chapter}"
    connector = dict(parse_qsl(page.query))["connector"]

    polled = await client.post(f"/v1/chapters/{chapter}/connectors/oauth/flows/{flow}/poll",
                               headers=headers)  # fmt: skip
    assert polled.json()["status"] == "connected"
    view = polled.json()["connector"]
    assert view["id"] == connector and view["kind"] == "google_drive"
    assert view["library"] == "LIB" and view["has_credential"] is True

    synced = await client.post(f"/v1/chapters/{chapter}/connectors/{connector}/sync",
                               headers=headers)  # fmt: skip
    assert synced.status_code == 200, synced.text
    report = synced.json()["report"]
    assert (report["added"], report["rejected"]) == (2, 1)
    # The status shows Drive's page token, not the file map the cursor keeps beside it.
    assert synced.json()["cursor"] == report["cursor"] and report["cursor"].isdigit()

    # The state is single use: the same redirect again changes nothing.
    again = await client.get("/v1/connectors/oauth/callback",
                             params={"code": "code-1-do-not-leak", "state": state})  # fmt: skip
    assert again.headers["location"] == f"/chapters/{chapter}?connector_error=oauth_state_used"
    forged = await client.get("/v1/connectors/oauth/callback",
                              params={"code": "x", "state": f"{flow}.guessed"})  # fmt: skip
    assert forged.headers["location"] == "/books?connector_error=oauth_state_invalid"
    listed = await client.get(f"/v1/chapters/{chapter}/connectors", headers=headers)
    assert len(listed.json()["connectors"]) == 1

    # The person revokes the app at Google: the next sync says to reconnect.
    drive.oauth.revoke()
    failed = await client.post(f"/v1/chapters/{chapter}/connectors/{connector}/sync",
                               headers=headers)  # fmt: skip
    assert_error(failed, 502, "connector_credential_rejected")
    status = (await client.get(f"/v1/chapters/{chapter}/connectors/{connector}",
                               headers=headers)).json()  # fmt: skip
    assert status["status"] == "credential_rejected" and "reconnect" in status["last_error"]

    # Reconnecting gives the same connector new tokens: nothing is brought in twice.
    again_started = await client.post(f"/v1/chapters/{chapter}/connectors/oauth/google/start",
                                      json={"connector": connector}, headers=headers)  # fmt: skip
    code, state2, _ = drive.oauth.approve(again_started.json()["authorize_url"])
    back = await client.get("/v1/connectors/oauth/callback", params={"code": code, "state": state2})
    assert back.headers["location"] == f"/chapters/{chapter}?connector={connector}"
    resynced = await client.post(f"/v1/chapters/{chapter}/connectors/{connector}/sync",
                                 headers=headers)  # fmt: skip
    assert resynced.json()["status"] == "ok" and resynced.json()["report"]["appended"] == 0
    listed = await client.get(f"/v1/chapters/{chapter}/connectors", headers=headers)
    assert len(listed.json()["connectors"]) == 1

    answers = [polled.text, synced.text, failed.text, str(status), resynced.text]
    events = [repr(r.envelope.body) async for r in services.logs.chapter(chapter).read()]
    # The server's log lines (the test's own client logs the redirect it follows, code and all,
    # as a browser's history would hold it; the server never does).
    logged = [r.getMessage() for r in caplog.records if "ragstack.test" not in r.getMessage()]
    for seen in [*answers, *logged, *events]:
        assert SECRET_MARK not in seen and drive.oauth.client_secret not in seen


async def test_a_refusal_and_a_stale_flow_send_the_browser_back_with_the_reason(client, drive):
    headers, chapter = await _chapter(client)
    started = (await client.post(f"/v1/chapters/{chapter}/connectors/oauth/google/start",
                                  headers=headers)).json()  # fmt: skip
    _, state, _ = drive.oauth.approve(started["authorize_url"])
    back = await client.get("/v1/connectors/oauth/callback",
                            params={"error": "access_denied", "state": state})  # fmt: skip
    assert back.headers["location"] == f"/chapters/{chapter}?connector_error=oauth_denied"
    polled = await client.post(
        f"/v1/chapters/{chapter}/connectors/oauth/flows/{started['flow']}/poll", headers=headers
    )
    assert polled.json()["status"] == "failed" and polled.json()["error_code"] == "oauth_denied"

    # Another person cannot read (or poll) someone else's flow, even with their chapter's id.
    other, _ = await _chapter(client, email="ben@example.org")
    stranger = await client.post(
        f"/v1/chapters/{chapter}/connectors/oauth/flows/{started['flow']}/poll", headers=other
    )
    assert stranger.status_code == 404


async def test_the_device_flow_waits_slows_down_and_connects(client, drive):
    headers, chapter = await _chapter(client)
    drive.oauth.device_script = ["authorization_pending", "slow_down", "ok"]
    started = await client.post(f"/v1/chapters/{chapter}/connectors/oauth/google/device",
                                json={"library": "LIB"}, headers=headers)  # fmt: skip
    assert started.status_code == 201, started.text
    device = started.json()
    assert device["user_code"] == "WDJB-MJHT" and device["interval"] == 5
    assert "device-code" not in started.text  # the device code stays on the server
    url = f"/v1/chapters/{chapter}/connectors/oauth/flows/{device['flow']}/poll"
    steps = [(await client.post(url, headers=headers)).json() for _ in range(3)]
    assert [(s["status"], s["interval"]) for s in steps[:2]] == [("pending", 5), ("slow_down", 10)]
    assert steps[2]["status"] == "connected" and steps[2]["connector"]["kind"] == "google_drive"

    for refusal, code in (("access_denied", "oauth_denied"), ("expired_token", "oauth_denied")):
        drive.oauth.device_script = [refusal]
        flow = (await client.post(f"/v1/chapters/{chapter}/connectors/oauth/google/device",
                                  headers=headers)).json()["flow"]  # fmt: skip
        url = f"/v1/chapters/{chapter}/connectors/oauth/flows/{flow}/poll"
        ended = (await client.post(url, headers=headers)).json()
        assert (ended["status"], ended["error_code"]) == ("failed", code), ended
    listed = await client.get(f"/v1/chapters/{chapter}/connectors", headers=headers)
    assert len(listed.json()["connectors"]) == 1


async def test_a_provider_the_operator_has_not_set_up_is_a_clear_409(client):
    headers, chapter = await _chapter(client)
    refused = await client.post(f"/v1/chapters/{chapter}/connectors/oauth/dropbox/start",
                                headers=headers)  # fmt: skip
    error = assert_error(refused, 409, "oauth_not_configured")
    assert "[connectors.oauth.dropbox] client_id" in error["message"]
    pasted = await client.post(f"/v1/chapters/{chapter}/connectors",
                               json={"kind": "google_drive", "api_key": "x"}, headers=headers)  # fmt: skip
    assert pasted.status_code == 422
