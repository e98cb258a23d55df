"""`ragstack share`, `shares list|revoke|accept`, `follow` and `replica …` against a real
`ragstack serve`, and the guest's `ShareClient` on the owner's server.

The owner shares a chapter and gets its token once; the list never shows it; bad flags and a
revoked token are clear errors with a non-zero exit; a copy share is accepted, not followed; a
replica made for one chapter refuses another. Following a proxied share end to end needs the
feed route (`GET /v1/shares/feed`): that test skips itself on a server without it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_support import ServeProcess, start_serve

from client.errors import ApiError
from client.replica import Replica
from client.sync import ShareClient
from engine.log import Logs
from engine.nats import connect_engine
from events import SourceRetagged

OWNER = ("olive@example.org", "correct horse battery")
GUEST = "gus@example.org"
OWLS = "Snowy owls nest on the open tundra and hunt lemmings through the long summer days."


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServeProcess]:
    # No per-token rate limit: one test appends 1,000 events as fast as the server takes them.
    process = start_serve(
        tmp_path_factory.mktemp("shares"), RAGSTACK_LIMITS_REQUESTS_PER_MINUTE_TOKEN="0"
    )
    try:
        process.invoke_json(
            "login", process.url, "--signup", "--email", OWNER[0], "--password", OWNER[1]
        )
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def chapter(served: ServeProcess) -> str:
    book = served.invoke_json("book", "create", "Birds")
    return served.invoke_json("chapter", "create", book["id"], "Owls")["id"]


def _error(done) -> dict:
    assert done.returncode == 1, done.stdout
    return json.loads(done.stderr.strip().splitlines()[-1])["error"]


def test_share_prints_the_token_once_and_list_never_shows_it(served, chapter):
    granted = served.invoke_json(
        "share", chapter, "--mode", "proxied", "--to", GUEST,
        "--allow", "add,prompt", "--scope", "sources,threads",
    )  # fmt: skip
    assert granted["mode"] == "proxied" and granted["grantee"] == GUEST
    assert granted["permissions"] == ["add", "prompt_passthrough"]
    assert granted["scope"] == ["sources", "threads"]
    assert len(granted["token"]) >= 24 and granted["server"] == served.url

    listed = served.invoke_json("shares", "list", chapter)["shares"]
    assert granted["id"] in [s["id"] for s in listed]
    assert granted["token"] not in json.dumps(listed)

    # For people: the token, and how the guest uses it.
    text = served.invoke("share", "Owls", "--mode", "proxied", "--to", "x@example.org")
    assert text.returncode == 0, text.stderr
    assert "ragstack follow TOKEN" in text.stdout and "shares accept" in text.stdout


def test_bad_flags_are_clear_errors(served, chapter):
    assert (
        _error(served.invoke("share", chapter, "--mode", "telepathy", "--to", GUEST, "--json"))[
            "code"
        ]
        == "invalid_mode"
    )
    refused = _error(
        served.invoke("share", chapter, "--mode", "copy", "--to", GUEST, "--allow", "fly", "--json")
    )
    assert refused["code"] == "invalid_argument" and "fly" in refused["message"]
    oneself = _error(served.invoke("share", chapter, "--mode", "copy", "--to", OWNER[0], "--json"))
    assert oneself["status"] == 422
    expires = _error(
        served.invoke(
            "share", chapter, "--mode", "copy", "--to", GUEST, "--expires", "soon", "--json"
        )
    )
    assert expires["code"] == "invalid_time"


def test_a_guest_adds_through_the_share_and_a_revoked_token_opens_nothing(
    served, chapter, tmp_path
):
    granted = served.invoke_json(
        "share", chapter, "--mode", "proxied", "--to", GUEST, "--allow", "add"
    )
    (tmp_path / "owls.txt").write_text(OWLS)

    with ShareClient(served.url, granted["token"]) as guest:
        assert guest.connect().chapter == chapter
        added = guest.add_to_share(tmp_path / "owls.txt")
        assert [s.name for s in added] == ["owls.txt"]
        assert "owls.txt" in [s.name for s in guest.shared_sources()]
        with pytest.raises(ApiError) as no_asking:
            guest.ask_share("Where do owls nest?")
        assert no_asking.value.code == "share_forbidden"

    revoked = served.invoke_json("shares", "revoke", chapter, granted["id"])
    assert revoked == {"revoked": granted["id"], "chapter": chapter}
    assert granted["id"] not in [
        s["id"] for s in served.invoke_json("shares", "list", chapter)["shares"]
    ]
    ended = _error(
        served.invoke("follow", granted["token"], "--dir", str(tmp_path / "r"), "--once", "--json")
    )
    assert (ended["code"], ended["status"]) == ("share_ended", 403)


def test_accept_is_for_the_grantee_only(served, chapter):
    granted = served.invoke_json("share", chapter, "--mode", "copy", "--to", GUEST)
    refused = _error(served.invoke("shares", "accept", granted["token"], "--json"))
    assert refused["status"] == 403 and "another address" in refused["message"]


def test_a_copy_share_is_accepted_not_followed(served, chapter, tmp_path):
    granted = served.invoke_json("share", chapter, "--mode", "copy", "--to", GUEST)
    refused = _error(
        served.invoke("follow", granted["token"], "--dir", str(tmp_path / "r"), "--once", "--json")
    )
    assert refused["code"] == "copy_share" and "shares accept" in refused["message"]


def test_a_replica_made_for_another_chapter_is_refused(served, chapter, tmp_path):
    folder = tmp_path / "replica"

    async def made_elsewhere() -> None:
        async with await Replica.open(folder) as replica:
            await replica.bind(share="01jshare00000000000000000a", chapter="01jother00000000000000000b",
                               mode="proxied", title="Larks", server=served.url, scope=[])  # fmt: skip

    asyncio.run(made_elsewhere())
    granted = served.invoke_json("share", chapter, "--mode", "proxied", "--to", GUEST)

    refused = _error(
        served.invoke(
            "follow",
            granted["token"],
            "--from",
            served.url,
            "--dir",
            str(folder),
            "--once",
            "--json",
        )
    )
    assert refused["code"] == "wrong_chapter"
    assert "01jother00000000000000000b" in refused["message"] and "--dir" in refused["message"]


def test_follow_once_makes_a_searchable_replica(served, tmp_path):
    book = served.invoke_json("book", "create", "Followed")
    chapter = served.invoke_json("chapter", "create", book["id"], "Owls")["id"]
    granted = served.invoke_json("share", chapter, "--mode", "proxied", "--to", GUEST)
    (tmp_path / "owls.txt").write_text(OWLS)
    served.invoke_json("add", chapter, str(tmp_path / "owls.txt"), "--wait")
    folder = tmp_path / "replica"

    synced = served.invoke_json("follow", granted["token"], "--dir", str(folder), "--once")

    assert (
        synced["chapter"] == chapter and synced["mode"] == "proxied" and len(synced["head"]) == 64
    )
    sources = served.invoke_json("replica", "sources", "--dir", str(folder))["sources"]
    assert "owls.txt" in [s["name"] for s in sources]
    hits = served.invoke_json("replica", "search", "lemmings", "--dir", str(folder))["hits"]
    assert [h["name"] for h in hits] == ["owls.txt"]
    history = served.invoke_json("replica", "history", "--dir", str(folder))
    assert history["ticks"][0]["snapshot"] is True and history["rev"] == synced["rev"]


def test_replica_commands_without_a_replica_say_how_to_make_one(served, tmp_path: Path):
    missing = _error(served.invoke("replica", "sources", "--dir", str(tmp_path / "none"), "--json"))
    assert missing["code"] == "not_found" and "ragstack follow" in missing["message"]


def test_replica_commands_answer_from_a_replica_offline(served, tmp_path: Path):
    import rust_core
    from events import SourceAdded, SourceExtracted

    folder, text_blob = tmp_path / "replica", rust_core.hash(OWLS.encode()).hex()

    async def made() -> None:
        async with await Replica.open(folder) as replica:
            await replica.bind(share="01jshare00000000000000000a", chapter="01jchapter0000000000000000",
                               mode="proxied", title="Owls", server=served.url, scope=["sources"])  # fmt: skip
            bodies = [
                SourceAdded(source="s1", name="owls.txt", media_type="text/plain", blob="0" * 64, size=9),
                SourceExtracted(source="s1", text_blob=text_blob, extractor="text", extractor_version="1"),
            ]  # fmt: skip
            await replica.apply_batch(after=0, rev=4, head="cd" * 32, snapshot=True, bodies=bodies,
                                      texts={text_blob: OWLS})  # fmt: skip

    asyncio.run(made())
    listed = served.invoke_json("replica", "sources", "--dir", str(folder))
    assert listed["rev"] == 4 and [s["status"] for s in listed["sources"]] == ["extracted"]
    hits = served.invoke_json("replica", "search", "tundra lemmings", "--dir", str(folder))["hits"]
    assert [h["source"] for h in hits] == ["s1"] and "[lemmings]" in hits[0]["snippet"]
    history = served.invoke_json("replica", "history", "--dir", str(folder))
    assert [e["type"] for e in history["events"]] == ["SourceAdded", "SourceExtracted"]
    assert history["head"] == "cd" * 32
    text = served.invoke("replica", "search", "owls", "--dir", str(folder))
    assert text.returncode == 0 and "owls.txt" in text.stdout


async def _retag_1000_times(data: Path, chapter: str, source: str) -> int:
    """The owner's server appends 1,000 retags of `source` (through the engine, joined to the
    server's own NATS: 1,000 HTTP requests cost CI 45 s and test nothing more); its rev after."""
    async with connect_engine(data) as nc, Logs(nc) as logs:
        log = logs.chapter(chapter)
        retags = [SourceRetagged(source=source, tags=[f"t{i}"]) for i in range(1000)]
        stored = await log.append_many(retags, actor="u-owner")
        return stored[-1].rev


def test_a_replica_offline_through_1000_appends_catches_up_verified(served, tmp_path: Path):
    # A direct share of a chapter of its own, a replica made, then left offline.
    book = served.invoke_json("book", "create", "Catch-up")
    chapter = served.invoke_json("chapter", "create", book["id"], "Busy")["id"]
    (tmp_path / "owls.txt").write_text(OWLS)
    source = served.invoke_json("add", chapter, str(tmp_path / "owls.txt"), "--wait")
    source_id = source["sources"][0]["id"] if "sources" in source else source["id"]
    granted = served.invoke_json("share", chapter, "--mode", "direct", "--to", GUEST)
    folder = tmp_path / "replica"
    first = served.invoke_json("follow", granted["token"], "--dir", str(folder), "--once")

    # The owner appends 1,000 events (retags) while the replica is offline.
    head = asyncio.run(_retag_1000_times(served.data, chapter, source_id))

    again = served.invoke_json("follow", granted["token"], "--dir", str(folder), "--once")
    # At least the head read above: the worker may sign the head (HeadSigned) meanwhile.
    assert again["rev"] >= head >= first["rev"] + 1000
    # Every event was chain-checked on the way in; the replica's state is the owner's.
    sources = served.invoke_json("replica", "sources", "--dir", str(folder))["sources"]
    assert [(s["name"], s["tags"]) for s in sources] == [("owls.txt", ["t999"])]
