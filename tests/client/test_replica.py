"""The guest's replica (client/replica.py) and one proxied step (client/follow.py) over a fake
owner's server: batches and blobs made by hand in the feed's JSON, events made by hand with
their chain, so that everything the replica checks can be broken on purpose.

What must hold: a batch applies whole or not at all (a tampered blob, a batch that does not
continue from the rev held, a head that is not a chain hash, a batch of another chapter leave
the replica as it was); a direct event that does not verify is refused with its rev and nothing
from it on is applied; a replica made for one share refuses another; everything persists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

import rust_core
from client.aio_guest import AsyncShareClient, BlobMismatch
from client.follow import proxied_step, recorded
from client.replica import Replica
from client.replica_rows import ChainBroken, ReplicaError, ReplicaMismatch, decode_bodies
from events import (
    ChapterCreated,
    Envelope,
    RecordedEvent,
    SourceAdded,
    SourceExtracted,
    SourceRemoved,
    SourceRetagged,
    encode,
)

SHARE, CHAPTER, OTHER = (
    "01jshare00000000000000000a",
    "01jchapter0000000000000000",
    "01jother00000000000000000b",
)
OWLS = "Snowy owls nest on the open tundra and hunt lemmings."
LARKS = "Skylarks sing while they hover high over the meadow."
HEAD = "ab" * 32


def _blob(text: str) -> str:
    return rust_core.hash(text.encode()).hex()


def _json(body: Any) -> dict[str, Any]:
    return msgspec.json.decode(msgspec.json.encode(body))


def _added(source: str, name: str, tags: list[str] | None = None) -> dict[str, Any]:
    return _json(
        SourceAdded(source=source, name=name, media_type="text/plain", blob=_blob(name),
                    size=10, tags=tags or [])
    )  # fmt: skip


def _extracted(source: str, text: str) -> dict[str, Any]:
    return _json(
        SourceExtracted(source=source, text_blob=_blob(text), extractor="text",
                        extractor_version="1", chunk_count=1)
    )  # fmt: skip


def _batch(after: int, rev: int, events: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"share": SHARE, "chapter": CHAPTER, "after": after, "rev": rev, "head": HEAD,
            "snapshot": after == 0, "next_tick_at": None, "events": events, "blobs": [],
            **extra}  # fmt: skip


class FakeOwner:
    """The owner's feed and blob routes, answering what a test queued (and checking the token
    travels in the header, never the URL)."""

    def __init__(self, token: str = "t" * 32) -> None:
        self.token = token
        self.batches: list[dict[str, Any]] = []
        self.blobs: dict[str, bytes] = {}
        self.asked_after: list[int] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.headers.get("X-Share-Token") == self.token
        assert self.token not in str(request.url)
        if request.url.path == "/v1/shares/feed":
            self.asked_after.append(int(request.url.params["after"]))
            return httpx.Response(200, json=self.batches.pop(0))
        blob = request.url.path.rsplit("/", 1)[-1]
        if blob in self.blobs:
            return httpx.Response(200, content=self.blobs[blob])
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no blob"}})

    def guest(self) -> AsyncShareClient:
        return AsyncShareClient(
            "http://owner.test", self.token, transport=httpx.MockTransport(self.handler)
        )

    def text(self, text: str) -> None:
        self.blobs[_blob(text)] = text.encode()


@pytest.fixture
async def replica(tmp_path: Path):
    opened = await Replica.open(tmp_path / "replica")
    await opened.bind(share=SHARE, chapter=CHAPTER, mode="proxied", title="Birds",
                      server="http://owner.test", scope=["sources", "notes"])  # fmt: skip
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_snapshot_then_a_tick_are_applied_searchable_and_persisted(replica, tmp_path):
    owner = FakeOwner()
    owner.text(OWLS)
    owner.text(LARKS)
    owner.batches.append(
        _batch(0, 5, [_added("s1", "owls.txt", ["birds"]), _extracted("s1", OWLS)])
    )
    owner.batches.append(
        _batch(5, 9, [_added("s2", "larks.txt"), _extracted("s2", LARKS),
                      _json(SourceRetagged(source="s1", tags=["tundra"]))])
    )  # fmt: skip

    async with owner.guest() as guest:
        assert (await proxied_step(guest, replica))[0] == 2
        assert (await proxied_step(guest, replica))[0] == 3
    assert owner.asked_after == [0, 5]  # each time from the rev held

    sources = await replica.sources()
    assert [(s.id, s.name, s.status, s.tags) for s in sources] == [
        ("s1", "owls.txt", "extracted", ["tundra"]),
        ("s2", "larks.txt", "extracted", []),
    ]
    assert [h.source for h in await replica.search("lemmings tundra")] == ["s1"]
    assert [t.rev for t in await replica.ticks()] == [5, 9]
    assert [h.type for h in await replica.history()][:2] == ["SourceAdded", "SourceExtracted"]

    # Opened again from the file: the same state, at the same rev and head.
    async with await Replica.open(tmp_path / "replica") as again:
        assert (again.rev, again.head) == (9, HEAD)
        assert [s.id for s in await again.sources()] == ["s1", "s2"]
        assert await again.text("s2") == LARKS


async def test_a_tampered_blob_refuses_the_whole_batch(replica):
    owner = FakeOwner()
    owner.blobs[_blob(OWLS)] = OWLS.replace("lemmings", "voles").encode()
    owner.batches.append(_batch(0, 5, [_added("s1", "owls.txt"), _extracted("s1", OWLS)]))

    async with owner.guest() as guest:
        with pytest.raises(BlobMismatch, match="does not match its content"):
            await proxied_step(guest, replica)

    assert replica.rev == 0 and await replica.sources() == [] and await replica.ticks() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"after": 3, "snapshot": False}, "continues from rev 3"),
        ({"head": "not-a-hash"}, "64-hex"),
        ({"chapter": OTHER}, "chapter"),
        ({"share": "01jsomeoneelse000000000000"}, "share"),
    ],
)
async def test_a_batch_that_does_not_fit_is_refused_untouched(replica, change, message):
    owner = FakeOwner()
    owner.text(OWLS)
    owner.batches.append(_batch(0, 5, [_added("s1", "owls.txt"), _extracted("s1", OWLS)]))
    owner.batches.append({**_batch(5, 7, [_json(SourceRemoved(source="s1"))]), **change})

    async with owner.guest() as guest:
        await proxied_step(guest, replica)
        with pytest.raises(ReplicaError, match=message):
            await proxied_step(guest, replica)

    assert replica.rev == 5
    assert [s.status for s in await replica.sources()] == ["extracted"]


async def test_a_replica_made_for_one_chapter_refuses_another(replica, tmp_path):
    with pytest.raises(ReplicaMismatch, match=f"follows chapter {CHAPTER}"):
        await replica.bind(share="01jshare2000000000000000000", chapter=OTHER, mode="proxied",
                           title="Else", server="http://owner.test", scope=[])  # fmt: skip
    assert replica.chapter == CHAPTER


async def test_unknown_event_types_are_skipped_and_a_broken_known_one_refuses():
    bodies = decode_bodies([{"type": "FromTheFuture", "x": 1}, _added("s1", "a.txt")])
    assert [type(b).__name__ for b in bodies] == ["UnknownEvent", "SourceAdded"]
    with pytest.raises(ReplicaError, match="does not parse"):
        decode_bodies([{"type": "SourceAdded", "source": 3}])


# --- direct: the owner's own events, chain-checked ---


def _chain(bodies: list[Any], chapter: str = CHAPTER) -> list[RecordedEvent]:
    prev = rust_core.GENESIS
    events = []
    for rev, body in enumerate(bodies, start=1):
        payload = encode(Envelope(id=f"e{rev}", chapter=chapter, rev=rev, at=1_700_000_000_000 + rev,
                                  actor="u1", body=body))  # fmt: skip
        prev = rust_core.chain_link(prev, payload)
        events.append(RecordedEvent(rev=rev, hash=prev, payload=payload))
    return events


def _direct_bodies() -> list[Any]:
    return [
        ChapterCreated(book="b1", title="Birds"),
        SourceAdded(source="s1", name="owls.txt", media_type="text/plain", blob=_blob("o"), size=1),
        SourceExtracted(
            source="s1", text_blob=_blob(OWLS), extractor="text", extractor_version="1"
        ),
        SourceAdded(
            source="s2", name="larks.txt", media_type="text/plain", blob=_blob("l"), size=1
        ),
    ]


async def test_direct_events_apply_only_while_the_chain_verifies(replica):
    events = _chain(_direct_bodies())
    tampered = msgspec.structs.replace(
        events[3], payload=events[3].payload.replace(b"larks", b"crows")
    )

    with pytest.raises(ChainBroken) as refused:
        await replica.apply_events([*events[:3], tampered], {_blob(OWLS): OWLS})

    assert refused.value.rev == 4 and "rev 4" in str(refused.value)
    # The three that verified are applied; the broken one is not.
    assert replica.rev == 3 and replica.head == events[2].hash.hex()
    assert [s.id for s in await replica.sources()] == ["s1"]
    assert replica.meta["title"] == "Birds"
    # The true event, sent again, continues the chain.
    assert await replica.apply_events([events[3]], {}) == 1
    assert [s.id for s in await replica.sources()] == ["s1", "s2"]


async def test_a_direct_event_of_another_chapter_is_refused(replica):
    spliced = _chain(_direct_bodies(), chapter=OTHER)
    with pytest.raises(ChainBroken, match="belongs to"):
        await replica.apply_events(spliced[:1], {})
    assert replica.rev == 0


def test_a_live_message_is_read_from_its_headers():
    event = _chain(_direct_bodies())[0]
    headers = {"Nats-Sequence": "1", "Rs-Hash": event.hash.hex(), "Nats-Stream": "RS_CH_x"}
    assert recorded(event.payload, headers) == event
    assert recorded(b"", {"Status": "404", "Description": "Message Not Found"}) is None
