"""Sharing across two servers, as two teams run them: each `ragstack serve` with its own data
directory and embedded nats-server, on loopback (peers on private addresses allowed for it).

One owner on server A shares a chapter three ways with a guest on server B: a copy, a proxied
live share (ticking every second here) and a direct one; the guest accepts each on B, naming A.
The copy stays a copy; the live mirrors follow A and leave B's book when the share is revoked.
The CLI's `follow` keeps a local replica of the direct share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.copies import check_signed, decode_manifest
from tests.serve_support import ServeProcess, serving

ENV = {"RAGSTACK_SHARING_ALLOW_PRIVATE_PEERS": "true", "RAGSTACK_SHARING_TICK_S": "1"}
WITHIN_S = 30.0


def _sign_up(server: ServeProcess, email: str) -> dict[str, str]:
    made = httpx.post(
        f"{server.url}/v1/auth/signup",
        json={"email": email, "password": "correct horse battery", "name": email.split("@")[0]},
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['token']}"}


def _eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {WITHIN_S:g} s: {what}")


def _names(server: ServeProcess, headers: dict[str, str], chapter: str) -> set[str]:
    listed = httpx.get(f"{server.url}/v1/chapters/{chapter}/sources", headers=headers)
    if listed.status_code != 200:
        return set()
    return {s["name"] for s in listed.json()["sources"] if s["status"] == "extracted"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    with (
        serving(Path(tmp_path_factory.mktemp("owner")), **ENV) as owner_server,
        serving(Path(tmp_path_factory.mktemp("guest")), **ENV) as guest_server,
    ):
        yield owner_server, guest_server


def test_copy_proxied_and_direct_shares_cross_to_another_server(servers):
    a, b = servers
    olive = _sign_up(a, "olive@example.org")
    gus = _sign_up(b, "gus@example.org")
    book = httpx.get(f"{a.url}/v1/books", headers=olive).json()["books"][0]["id"]
    chapter = httpx.post(
        f"{a.url}/v1/books/{book}/chapters", json={"title": "Owls"}, headers=olive
    ).json()["id"]
    upload = {"file": ("owls.txt", b"Snowy owls nest on the open tundra.", "text/plain")}
    added = httpx.post(
        f"{a.url}/v1/chapters/{chapter}/sources?wait=true", files=upload, headers=olive, timeout=90
    )
    assert added.status_code == 201, added.text

    accepted: dict[str, dict] = {}
    shares: dict[str, dict] = {}
    for mode in ("copy", "proxied", "direct"):
        granted = httpx.post(
            f"{a.url}/v1/chapters/{chapter}/shares",
            json={"mode": mode, "grantee": "gus@example.org"},
            headers=olive,
        )
        assert granted.status_code == 201, granted.text
        shares[mode] = granted.json()
        made = httpx.post(
            f"{b.url}/v1/shares/{shares[mode]['token']}/accept",
            json={"from": a.url},
            headers=gus,
            timeout=90,
        )
        assert made.status_code == 201, f"{mode}: {made.text}"
        accepted[mode] = made.json()
        assert accepted[mode]["share"] == shares[mode]["id"]

    # Each is on B with the owner's source, extracted by A and searchable with B's own index.
    for mode, mirror in accepted.items():
        _eventually(lambda m=mirror: _names(b, gus, m["id"]) == {"owls.txt"}, f"{mode} on B")
    hits = httpx.post(
        f"{b.url}/v1/chapters/{accepted['direct']['id']}/search",
        json={"query": "where do owls nest"},
        headers=gus,
    )
    assert "tundra" in hits.json()["hits"][0]["text"]

    # A new source on A reaches the live mirrors, not the copy.
    more = {"file": ("bees.txt", b"Honey bees dance to show where flowers are.", "text/plain")}
    httpx.post(
        f"{a.url}/v1/chapters/{chapter}/sources?wait=true", files=more, headers=olive, timeout=90
    )
    both = {"owls.txt", "bees.txt"}
    for mode in ("proxied", "direct"):
        mirror = accepted[mode]["id"]
        _eventually(lambda m=mirror: _names(b, gus, m) == both, f"{mode} follows A")
    assert _names(b, gus, accepted["copy"]["id"]) == {"owls.txt"}
    # B verifies the copy against A's signed root, by the keys that came with the share (B
    # holds no log of A's book), and so does a client that reads it from B.
    copy_id = accepted["copy"]["id"]
    verified = httpx.get(f"{b.url}/v1/chapters/{copy_id}/verify", headers=gus).json()
    assert verified["ok"], verified
    manifest = decode_manifest(
        httpx.get(f"{b.url}/v1/chapters/{copy_id}/manifest", headers=gus).content
    )
    a_keys = httpx.get(f"{a.url}/v1/books/{manifest.book}/keys", headers=olive).json()
    assert check_signed(manifest).signed_by == a_keys["current"]

    # Revoked on A: the live mirrors leave B's book; the copy stays.
    for mode in ("proxied", "direct"):
        gone = httpx.delete(
            f"{a.url}/v1/chapters/{chapter}/shares/{shares[mode]['id']}", headers=olive
        )
        assert gone.status_code == 204
    for mode in ("proxied", "direct"):
        mirror = accepted[mode]["id"]
        _eventually(
            lambda m=mirror: httpx.get(f"{b.url}/v1/chapters/{m}", headers=gus).status_code == 404,
            f"the {mode} mirror leaves B's book",
        )
    assert (
        httpx.get(f"{b.url}/v1/chapters/{accepted['copy']['id']}", headers=gus).status_code == 200
    )


def test_a_peer_on_a_private_address_is_refused_unless_allowed(tmp_path, servers):
    a, _ = servers
    olive = _sign_up(a, "ola@example.org")
    book = httpx.get(f"{a.url}/v1/books", headers=olive).json()["books"][0]["id"]
    chapter = httpx.post(
        f"{a.url}/v1/books/{book}/chapters", json={"title": "Private"}, headers=olive
    ).json()["id"]
    share = httpx.post(
        f"{a.url}/v1/chapters/{chapter}/shares",
        json={"mode": "copy", "grantee": "pat@example.org"},
        headers=olive,
    ).json()
    with serving(tmp_path) as strict:  # default settings: no private peers
        pat = _sign_up(strict, "pat@example.org")
        refused = httpx.post(
            f"{strict.url}/v1/shares/{share['token']}/accept", json={"from": a.url}, headers=pat
        )
        assert refused.status_code == 422, refused.text
        assert "allow_private_peers" in refused.json()["error"]["message"]
