"""Granting, listing and revoking shares over HTTP, and what a share's token opens.

The rules: the chapter's assignee and the book's owner and admins may share it; never with
oneself; outside the book only while the book allows it, and turning that off stops every such
share at once. Tokens are shown once and open nothing once the share is revoked or expired.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from gateway_support import assert_error
from isolation_support import Person, sign_up_person

from engine.shares import DirectUnavailable, Shares


async def _owner_with_chapter(client, email: str = "olive@example.org") -> tuple[Person, str, str]:
    owner = await sign_up_person(client, email, "Olive")
    book = (await client.get("/v1/books", headers=owner.headers)).json()["books"][0]["id"]
    made = await client.post(
        f"/v1/books/{book}/chapters", json={"title": "Owls"}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    return owner, book, made.json()["id"]


async def _grant(client, owner: Person, chapter: str, **body) -> dict:
    body = {"mode": "proxied", "grantee": "guest@example.org", **body}
    made = await client.post(f"/v1/chapters/{chapter}/shares", json=body, headers=owner.headers)
    assert made.status_code == 201, made.text
    return made.json()


async def test_a_grant_is_listed_logged_without_its_token_and_connects(client):
    owner, _, chapter = await _owner_with_chapter(client)
    share = await _grant(client, owner, chapter, permissions=["edit", "add"])
    assert share["mode"] == "proxied" and share["grantee"] == "guest@example.org"
    assert share["permissions"] == ["add", "edit"]  # in the canonical order
    assert share["scope"] == ["sources", "notes"]
    assert share["interval_s"] == 600  # a new book is on the free plan
    assert len(share["token"]) >= 24

    listed = (await client.get(f"/v1/chapters/{chapter}/shares", headers=owner.headers)).json()
    assert [s["id"] for s in listed["shares"]] == [share["id"]]
    assert "token" not in listed["shares"][0]

    # The log records the grant, never the token.
    events = (await client.get(f"/v1/chapters/{chapter}/events", headers=owner.headers)).json()
    granted = [e for e in events["events"] if e["event"]["type"] == "ShareGranted"]
    assert len(granted) == 1 and granted[0]["event"]["share"] == share["id"]
    assert share["token"] not in str(events)
    state = (await client.get(f"/v1/chapters/{chapter}/state", headers=owner.headers)).json()
    assert [s["id"] for s in state["shares"]] == [share["id"]]

    # The token alone (no account) connects.
    connected = await client.post(f"/v1/shares/{share['token']}/connect")
    assert connected.status_code == 200, connected.text
    info = connected.json()
    assert info["chapter"] == chapter and info["title"] == "Owls" and info["mode"] == "proxied"
    assert info["rev"] == share["rev"] and len(info["head"]) == 64
    assert info["nats"] is None


async def test_a_revoked_share_opens_nothing_and_leaves_the_list(client):
    owner, _, chapter = await _owner_with_chapter(client)
    share = await _grant(client, owner, chapter)
    gone = await client.delete(
        f"/v1/chapters/{chapter}/shares/{share['id']}", headers=owner.headers
    )
    assert gone.status_code == 204
    assert_error(await client.post(f"/v1/shares/{share['token']}/connect"), 403, "share_ended")
    listed = (await client.get(f"/v1/chapters/{chapter}/shares", headers=owner.headers)).json()
    assert listed["shares"] == []
    again = await client.delete(
        f"/v1/chapters/{chapter}/shares/{share['id']}", headers=owner.headers
    )
    assert_error(again, 404, "not_found")


async def test_unknown_and_expired_tokens_are_refused(client):
    owner, _, chapter = await _owner_with_chapter(client)
    assert_error(
        await client.post("/v1/shares/" + "x" * 40 + "/connect"), 404, "invalid_share_token"
    )
    soon = int(time.time() * 1000) + 1500
    share = await _grant(client, owner, chapter, expires_at=soon)
    assert (await client.post(f"/v1/shares/{share['token']}/connect")).status_code == 200
    await asyncio.sleep(max(0.0, (soon - time.time() * 1000) / 1000) + 0.05)
    assert_error(await client.post(f"/v1/shares/{share['token']}/connect"), 403, "share_ended")


async def test_bad_grants_are_refused_and_append_nothing(client):
    owner, _, chapter = await _owner_with_chapter(client)
    head = (await client.get(f"/v1/chapters/{chapter}", headers=owner.headers)).json()["rev"]
    url = f"/v1/chapters/{chapter}/shares"
    bad = [
        ({"mode": "telepathy", "grantee": "g@example.org"}, 422, "validation_error"),
        (
            {"mode": "copy", "grantee": "g@example.org", "permissions": ["fly"]},
            422,
            "validation_error",
        ),
        ({"mode": "copy", "grantee": "not-an-address"}, 422, "invalid_email"),
        ({"mode": "copy", "grantee": "OLIVE@example.org"}, 422, "invalid_argument"),  # oneself
        ({"mode": "copy", "grantee": "g@example.org", "expires_at": 1}, 422, "invalid_argument"),
    ]
    for body, status, code in bad:
        assert_error(await client.post(url, json=body, headers=owner.headers), status, code)
    after = (await client.get(f"/v1/chapters/{chapter}", headers=owner.headers)).json()["rev"]
    assert after == head


async def test_only_those_who_manage_a_chapter_may_share_it(client):
    owner, book, chapter = await _owner_with_chapter(client)
    member = await sign_up_person(client, "mia@example.org", "Mia")
    added = await client.post(
        f"/v1/books/{book}/members", json={"email": member.email}, headers=owner.headers
    )
    assert added.status_code == 201
    # Mia cannot see Olive's chapter, so for her it does not exist.
    body = {"mode": "copy", "grantee": "x@example.org"}
    refused = await client.post(f"/v1/chapters/{chapter}/shares", json=body, headers=member.headers)
    assert_error(refused, 404, "not_found")
    stranger = await sign_up_person(client, "sam@example.org", "Sam")
    listed = await client.get(f"/v1/chapters/{chapter}/shares", headers=stranger.headers)
    assert_error(listed, 404, "not_found")


async def test_external_sharing_off_refuses_grants_and_stops_existing_ones(client):
    owner, book, chapter = await _owner_with_chapter(client)
    member = await sign_up_person(client, "mia@example.org", "Mia")
    await client.post(
        f"/v1/books/{book}/members", json={"email": member.email}, headers=owner.headers
    )
    outside = await _grant(client, owner, chapter, grantee="outsider@example.org")
    inside = await _grant(client, owner, chapter, grantee="mia@example.org")

    off = await client.patch(
        f"/v1/books/{book}", json={"external_sharing": False}, headers=owner.headers
    )
    assert off.status_code == 200 and off.json()["external_sharing"] is False
    # The outside share stopped (and its revocation is in the log); the inside one goes on.
    assert_error(await client.post(f"/v1/shares/{outside['token']}/connect"), 403, "share_ended")
    assert (await client.post(f"/v1/shares/{inside['token']}/connect")).status_code == 200
    listed = (await client.get(f"/v1/chapters/{chapter}/shares", headers=owner.headers)).json()
    assert [s["id"] for s in listed["shares"]] == [inside["id"]]
    history = (await client.get(f"/v1/chapters/{chapter}/history", headers=owner.headers)).json()
    assert any(h["type"] == "ShareRevoked" for h in history["history"])

    # A new grant outside the book is refused with a reason.
    refused = await client.post(
        f"/v1/chapters/{chapter}/shares",
        json={"mode": "copy", "grantee": "someone@example.org"},
        headers=owner.headers,
    )
    error = assert_error(refused, 403, "forbidden")
    assert "outside" in error["message"]


async def test_a_direct_share_connects_with_nats_credentials_of_its_own(client):
    owner, _, chapter = await _owner_with_chapter(client)
    share = await _grant(client, owner, chapter, mode="direct", grantee="g@example.org")
    connected = await client.post(f"/v1/shares/{share['token']}/connect")
    assert connected.status_code == 200, connected.text
    info = connected.json()
    assert info["stream"] == f"RS_CH_{chapter}" and info["subject"] == f"rs.ch.{chapter}"
    nats = info["nats"]
    assert nats["url"].startswith("nats://127.0.0.1:")
    assert nats["user"] == f"share_{share['id']}"
    assert nats["inbox_prefix"] == f"_RS_INBOX.share_{share['id']}"
    assert len(nats["password"]) >= 32


async def test_direct_shares_are_refused_where_the_server_cannot_issue_credentials(
    client, services
):
    # An external NATS: the services have no DirectAccess to issue guests' credentials.
    owner, _, chapter = await _owner_with_chapter(client)
    shares = Shares(services.logs, services.books, services.accounts, direct=None)
    with pytest.raises(DirectUnavailable, match="proxied"):
        await shares.grant(owner.id, owner.email, chapter, mode="direct", grantee="g@example.org")


async def test_a_guest_acts_only_within_the_share_s_permissions(client, services):
    owner, _, chapter = await _owner_with_chapter(client)
    reader = await _grant(client, owner, chapter)
    adder = await _grant(client, owner, chapter, grantee="add@example.org", permissions=["add"])

    def as_guest(share: dict) -> dict:
        return {"X-Share-Token": share["token"]}

    upload = {"file": ("notes.txt", b"Snowy owls nest on the tundra.", "text/plain")}
    refused = await client.post("/v1/shares/sources", files=upload, headers=as_guest(reader))
    assert_error(refused, 403, "share_forbidden")
    added = await client.post("/v1/shares/sources", files=upload, headers=as_guest(adder))
    assert added.status_code == 201, added.text
    source = added.json()["sources"][0]["id"]

    # The upload is in the owner's chapter, recorded as the share.
    history = (await client.get(f"/v1/chapters/{chapter}/history", headers=owner.headers)).json()
    added_by = [h["actor"] for h in history["history"] if h["type"] == "SourceAdded"]
    assert added_by == [f"share:{adder['id']}"]
    listed = await client.get("/v1/shares/sources", headers=as_guest(reader))
    assert [s["id"] for s in listed.json()["sources"]] == [source]

    # Without `edit` or `remove`, neither is allowed; without `prompt_passthrough`, no asking.
    patch = await client.patch(
        f"/v1/shares/sources/{source}", json={"tags": ["x"]}, headers=as_guest(adder)
    )
    assert_error(patch, 403, "share_forbidden")
    gone = await client.delete(f"/v1/shares/sources/{source}", headers=as_guest(adder))
    assert_error(gone, 403, "share_forbidden")
    asked = await client.post("/v1/shares/ask", json={"question": "Owls?"}, headers=as_guest(adder))
    assert_error(asked, 403, "share_forbidden")
    # No token at all is a 401; a revoked share a 403.
    assert_error(await client.get("/v1/shares/sources"), 401, "not_authenticated")
    await client.delete(f"/v1/chapters/{chapter}/shares/{adder['id']}", headers=owner.headers)
    again = await client.post("/v1/shares/sources", files=upload, headers=as_guest(adder))
    assert_error(again, 403, "share_ended")


async def test_prompt_passthrough_answers_with_the_owner_s_model_in_the_owner_s_log(client):
    owner, _, chapter = await _owner_with_chapter(client)
    share = await _grant(client, owner, chapter, permissions=["prompt_passthrough"])
    upload = {"file": ("owls.txt", b"Snowy owls nest on the open tundra.", "text/plain")}
    made = await client.post(
        f"/v1/chapters/{chapter}/sources?wait=true", files=upload, headers=owner.headers
    )
    assert made.status_code == 201 and made.json()["sources"][0]["status"] == "extracted"
    asked = await client.post(
        "/v1/shares/ask",
        json={"question": "Where do snowy owls nest?"},
        headers={"X-Share-Token": share["token"]},
    )
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["citations"] and "tundra" in answer["citations"][0]["text"]
    history = (await client.get(f"/v1/chapters/{chapter}/history", headers=owner.headers)).json()
    asked_by = [h["actor"] for h in history["history"] if h["type"] == "MessagePosted"]
    assert asked_by[0] == f"share:{share['id']}"


async def test_only_an_operator_sets_a_plan_and_a_paid_book_ticks_every_minute(client, services):
    owner, book, chapter = await _owner_with_chapter(client)
    body = {"plan": "paid"}
    # The owner is no operator: the route does not exist for them.
    refused = await client.put(f"/v1/admin/books/{book}/plan", json=body, headers=owner.headers)
    assert_error(refused, 404, "not_found")
    operator = await sign_up_person(client, "ops@example.org", "Ops")
    services.settings = msgspec.structs.replace(services.settings, operators=["OPS@example.org"])
    made = await client.put(f"/v1/admin/books/{book}/plan", json=body, headers=operator.headers)
    assert made.status_code == 200, made.text
    assert made.json() == {"book": book, "plan": "paid"}
    seen = (await client.get(f"/v1/books/{book}", headers=owner.headers)).json()
    assert seen["plan"] == "paid"
    assert (await _grant(client, owner, chapter))["interval_s"] == 60
    bad = await client.put(
        f"/v1/admin/books/{book}/plan", json={"plan": "gold"}, headers=operator.headers
    )
    assert_error(bad, 422, "validation_error")


async def test_a_copy_accepted_on_the_same_server_is_a_chapter_of_the_guest_s_own(client):
    owner, _, chapter = await _owner_with_chapter(client)
    upload = {"file": ("owls.txt", b"Snowy owls nest on the open tundra.", "text/plain")}
    made = await client.post(
        f"/v1/chapters/{chapter}/sources?wait=true", files=upload, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    share = await _grant(client, owner, chapter, mode="copy", grantee="gus@example.org")
    # Someone else cannot accept it: it was granted to Gus.
    other = await sign_up_person(client, "oscar@example.org", "Oscar")
    refused = await client.post(
        f"/v1/shares/{share['token']}/accept", json={}, headers=other.headers
    )
    assert_error(refused, 403, "forbidden")

    gus = await sign_up_person(client, "gus@example.org", "Gus")
    accepted = await client.post(
        f"/v1/shares/{share['token']}/accept", json={}, headers=gus.headers
    )
    assert accepted.status_code == 201, accepted.text
    copy = accepted.json()
    assert copy["share"] == share["id"] and copy["forked_from"] == chapter
    assert copy["title"] == "Owls" and copy["assignee"] == gus.id
    sources = (await client.get(f"/v1/chapters/{copy['id']}/sources", headers=gus.headers)).json()
    assert [s["name"] for s in sources["sources"]] == ["owls.txt"]
    assert sources["sources"][0]["status"] == "extracted"
    # Accepting twice into the same book is refused; the copy verifies as any chapter does.
    again = await client.post(f"/v1/shares/{share['token']}/accept", json={}, headers=gus.headers)
    assert_error(again, 409, "conflict")
    verified = (await client.get(f"/v1/chapters/{copy['id']}/verify", headers=gus.headers)).json()
    assert verified["ok"] is True

    # Later changes of the owner's do not cross.
    more = {"file": ("bees.txt", b"Bees dance.", "text/plain")}
    await client.post(f"/v1/chapters/{chapter}/sources", files=more, headers=owner.headers)
    after = (await client.get(f"/v1/chapters/{copy['id']}/sources", headers=gus.headers)).json()
    assert [s["name"] for s in after["sources"]] == ["owls.txt"]
