"""Audit over HTTP against real services: events as stored, state at a rev or time, verify, proofs,
history.

Each test gets a whole embedded system (nats-server, SQLite, Chroma, the local embedder, ingest
running). A chapter is made over HTTP; its life (sources added, extracted, edited, retagged,
removed, a chat exchange, a rename) is written through the engine, as the other routes would.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import msgspec
import pytest
from gateway_support import assert_error, bearer, sign_up

import rust_core
from app.services import Services
from engine.log import GENESIS
from engine.nats import HASH_HEADER
from engine.settings import Limits
from engine.sources import add_source, edit_source, remove_source, retag_source
from events import (
    Citation,
    Envelope,
    MessagePosted,
    SourceEdited,
    SourceExtracted,
    ThreadStarted,
    TokenUsage,
    UnknownEvent,
    decode,
    encode,
    new_id,
)
from events.personal import open_sealed
from tests.projections.pipeline_support import settle

REPORT = (
    "# Costs\n\nThe survey of the northern lighthouses cost twelve thousand pounds in 1871.\n\n"
    "# Keepers\n\nEach keeper logged the weather every four hours.\n"
)


@pytest.fixture
def limits() -> Limits:
    return Limits(requests_per_minute_token=0, requests_per_minute_address=0)


@dataclass
class Chapter:
    """A chapter with a history, and the revs at which things happened."""

    id: str
    headers: dict[str, str]
    report: str
    notes: str
    marks: dict[str, int] = field(default_factory=dict)

    def url(self, route: str) -> str:
        return f"/v1/chapters/{self.id}/{route}"


async def mark(services: Services, chapter: Chapter, name: str) -> None:
    await settle(services.read, chapter.id)
    chapter.marks[name] = (await services.logs.chapter(chapter.id).head()).rev


@pytest.fixture
async def chapter(client: httpx.AsyncClient, services: Services) -> AsyncIterator[Chapter]:
    headers = bearer(await sign_up(client))
    me = (await client.get("/v1/me", headers=headers)).json()["id"]
    book = await client.post("/v1/books", json={"name": "Survey"}, headers=headers)
    assert book.status_code == 201, book.text
    made = await client.post(
        f"/v1/books/{book.json()['id']}/chapters", json={"title": "Lighthouses"}, headers=headers
    )
    assert made.status_code == 201, made.text
    log = services.logs.chapter(made.json()["id"])
    blobs = services.blobs

    report = await add_source(
        log, blobs, actor=me, name="report.md", data=REPORT.encode(),
        media_type="text/markdown", tags=["survey"],
    )  # fmt: skip
    notes = await add_source(
        log, blobs, actor=me, name="notes.txt", data=b"Buy more wick.", media_type="text/plain"
    )
    c = Chapter(id=log.id, headers=headers, report=report.source, notes=notes.source)
    await mark(services, c, "ingested")  # both extracted by the running ingest
    extracted = [e async for e in log.read() if isinstance(e.envelope.body, SourceExtracted)]
    text_blob = next(
        e.envelope.body.text_blob for e in extracted if e.envelope.body.source == report.source
    )
    await edit_source(
        log, blobs, actor=me, source=report.source, base_text=text_blob,
        new_text=REPORT.replace("twelve", "fourteen"),
    )  # fmt: skip
    await mark(services, c, "edited")
    await retag_source(log, actor=me, source=report.source, tags=["survey", "final"])
    await remove_source(log, actor=me, source=notes.source)
    await mark(services, c, "retagged")
    thread = new_id()
    await log.append(ThreadStarted(thread=thread, title="Costs"), actor=me)
    await log.append(
        MessagePosted(thread=thread, message="q1", role="user", text="What did it cost?"), actor=me
    )
    await log.append(
        MessagePosted(
            thread=thread, message="a1", role="assistant", text="Fourteen thousand pounds [1].",
            citations=[Citation(source=report.source, chunk="ab" * 32, start=0, end=40, page=1)],
            answered_at_rev=c.marks["retagged"], model="extractive",
            usage=TokenUsage(prompt=50, completion=6),
        ),
        actor=me,
    )  # fmt: skip
    await mark(services, c, "answered")
    await services.books.rename_chapter(me, log.id, "Lighthouses, revised")
    await mark(services, c, "renamed")
    yield c


async def all_events(client: httpx.AsyncClient, c: Chapter, limit: int) -> list[dict]:
    events, after, pages = [], 0, 0
    while after is not None:
        page = await client.get(c.url("events"), params={"after": after, "limit": limit},
                                headers=c.headers)  # fmt: skip
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["events"]) <= limit
        events += body["events"]
        after, pages = body["next_after"], pages + 1
    assert pages == -(-len(events) // limit)  # no empty trailing page
    return events


async def test_events_are_the_stored_bytes_and_their_chain(client, services, chapter):
    c = chapter
    stored = [e async for e in services.logs.chapter(c.id).read()]
    events = await all_events(client, c, limit=4)
    # Every payload is the exact stored bytes, and the chain recomputed from them is the hashes.
    payloads = [base64.b64decode(e["payload"]) for e in events]
    assert payloads == [e.payload for e in stored]
    assert [e["rev"] for e in events] == list(range(1, len(stored) + 1))
    recomputed = rust_core.chain_fold(GENESIS, payloads)
    assert [h.hex() for h in recomputed] == [e["hash"] for e in events]
    # The decoded event says what the envelope says; bytes fields travel as base64.
    for e, raw in zip(events, payloads, strict=True):
        envelope = decode(raw)
        assert (e["id"], e["at"], e["actor"]) == (envelope.id, envelope.at, envelope.actor)
        assert e["event"]["type"] == type(envelope.body).__name__
    edit = next(e for e in events if e["event"]["type"] == "SourceEdited")
    body = decode(base64.b64decode(edit["payload"])).body
    assert isinstance(body, SourceEdited)
    # The patch is personal: sealed out of the chained bytes, shown opened from its blob.
    assert body.patch == b"" and edit["event"]["sealed"] == body.sealed is not None
    opened = open_sealed(body, await services.blobs.get(body.sealed))
    assert base64.b64decode(edit["event"]["patch"]) == opened.patch != b""
    assert edit["event"]["source"] == c.report

    page = (await client.get(c.url("events"), headers=c.headers)).json()  # default limit 100
    assert page["events"] == events and page["next_after"] is None
    assert page["head"] == {"rev": len(stored), "hash": stored[-1].hash.hex()}
    # A page starting mid-way continues the chain from the previous page's last hash.
    mid = (await client.get(c.url("events"), params={"after": 5, "limit": 3},
                            headers=c.headers)).json()  # fmt: skip
    assert [e["rev"] for e in mid["events"]] == [6, 7, 8] and mid["next_after"] == 8
    again = rust_core.chain_fold(bytes.fromhex(events[4]["hash"]), payloads[5:8])
    assert [h.hex() for h in again] == [e["hash"] for e in mid["events"]]
    past = (await client.get(c.url("events"), params={"after": 10_000}, headers=c.headers)).json()
    assert past["events"] == [] and past["next_after"] is None


async def state(client, c: Chapter, **params) -> dict:
    response = await client.get(c.url("state"), params=params, headers=c.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_state_at_a_rev_is_what_was_true_then(client, chapter):
    c = chapter
    empty = await state(client, c, rev=0)
    assert (empty["rev"], empty["hash"], empty["title"], empty["sources"]) == (0, "00" * 32, "", [])

    created = await state(client, c, rev=1)
    assert (created["title"], created["sources"], created["threads"]) == ("Lighthouses", [], [])

    ingested = await state(client, c, rev=c.marks["ingested"])
    shape = {"id", "name", "media_type", "size", "status", "reason", "tags", "rev"}
    assert all(shape <= set(s) for s in ingested["sources"])
    assert [(s["name"], s["status"], s["tags"]) for s in ingested["sources"]] == [
        ("report.md", "extracted", ["survey"]),
        ("notes.txt", "extracted", []),
    ]
    assert ingested["sources"][0]["chunks"] >= 1

    edited = await state(client, c, rev=c.marks["edited"])
    assert edited["sources"][0]["status"] == "extracted"  # re-extracted after the edit
    assert edited["sources"][0]["text_blob"] != ingested["sources"][0]["text_blob"]

    retagged = await state(client, c, rev=c.marks["retagged"])
    assert [(s["name"], s["tags"]) for s in retagged["sources"]] == [
        ("report.md", ["final", "survey"])
    ]
    with_removed = await state(client, c, rev=c.marks["retagged"], include_removed="true")
    assert {s["name"]: s["status"] for s in with_removed["sources"]} == {
        "report.md": "extracted", "notes.txt": "removed",
    }  # fmt: skip
    assert retagged["threads"] == [] and retagged["messages"] is None

    answered = await state(client, c, rev=c.marks["answered"], messages="true")
    assert [(t["title"], t["message_count"]) for t in answered["threads"]] == [("Costs", 2)]
    question, answer = answered["messages"]
    assert (question["role"], question["text"]) == ("user", "What did it cost?")
    assert answer["answered_at_rev"] == c.marks["retagged"]
    assert answer["citations"][0]["source_name"] == "report.md"
    assert answer["citations"][0]["span"] == {"start": 0, "end": 40, "page": 1, "heading": None}
    assert answer["usage"] == {"prompt": 50, "completion": 6}
    assert answered["title"] == "Lighthouses"

    now = await state(client, c)
    assert now["title"] == "Lighthouses, revised" and now["rev"] == c.marks["renamed"]
    # Each state names the chain hash that pins its prefix.
    events = (await client.get(c.url("events"), headers=c.headers)).json()["events"]
    for rev in (1, c.marks["ingested"], c.marks["answered"]):
        assert (await state(client, c, rev=rev))["hash"] == events[rev - 1]["hash"]
        assert (await state(client, c, rev=rev))["at"] == events[rev - 1]["at"]


async def test_the_state_at_a_time_is_the_prefix_through_the_last_event_stamped_by_then(
    client, chapter
):
    c = chapter
    events = (await client.get(c.url("events"), headers=c.headers)).json()["events"]
    stamps = [e["at"] for e in events]
    for name in ("ingested", "retagged", "answered"):
        t = stamps[c.marks[name] - 1]
        expected = max(e["rev"] for e in events if e["at"] <= t)
        by_ms = await state(client, c, at=str(t))
        iso = datetime.fromtimestamp(t / 1000, tz=UTC).isoformat(timespec="milliseconds")
        by_iso = await state(client, c, at=iso.replace("+00:00", "Z"))
        by_rev = await state(client, c, rev=expected)
        assert by_ms == by_iso == by_rev, name
    assert (await state(client, c, at=str(stamps[0] - 1)))["rev"] == 0
    assert (await state(client, c, at="2999-01-01T00:00:00"))["rev"] == len(events)


async def test_verify_and_a_broken_chain(client, services, chapter):
    c = chapter
    verified = (await client.get(c.url("verify"), headers=c.headers)).json()
    head = await services.logs.chapter(c.id).head()
    assert verified == verified | {
        "ok": True, "events": head.rev, "head": {"rev": head.rev, "hash": head.hex},
        "first_bad_rev": None, "reason": None, "bad_book_rev": None,
    }  # fmt: skip

    # Someone with access to the NATS store appends a message whose stored hash is wrong.
    log = services.logs.chapter(c.id)
    forged = Envelope(
        id=new_id(), chapter=c.id, rev=head.rev + 1, at=0, actor="mallory",
        body=ThreadStarted(thread=new_id(), title="forged"),
    )  # fmt: skip
    await log.nc.jetstream().publish(log.subject, encode(forged), headers={HASH_HEADER: "11" * 32})
    bad = head.rev + 1
    broken = (await client.get(c.url("verify"), headers=c.headers)).json()
    assert (broken["ok"], broken["first_bad_rev"], broken["events"]) == (False, bad, head.rev)
    assert broken["head"] == {"rev": head.rev, "hash": head.hex} and broken["reason"]
    for route, params in [
        ("events", {}),
        ("events", {"after": bad - 2}),
        ("history", {}),
        ("state", {}),
        ("proof", {"rev": 1}),
    ]:
        response = await client.get(c.url(route), params=params, headers=c.headers)
        error = assert_error(response, 409, "chain_broken")
        assert f"revision {bad}" in error["message"], (route, error)
    # What came before the damage still reads and verifies.
    before = await client.get(c.url("events"), params={"limit": bad - 1}, headers=c.headers)
    assert before.status_code == 200 and len(before.json()["events"]) == bad - 1
    assert (await client.get(c.url("state"), params={"rev": bad - 1}, headers=c.headers)).is_success


async def test_a_proof_verifies_and_a_tampered_one_does_not(client, chapter):
    c = chapter
    events = (await client.get(c.url("events"), headers=c.headers)).json()["events"]
    hashes = [bytes.fromhex(e["hash"]) for e in events]
    for rev, size in [(1, 1), (3, 7), (7, 7), (2, len(events)), (len(events), len(events))]:
        response = await client.get(c.url("proof"), params={"rev": rev, "size": size},
                                    headers=c.headers)  # fmt: skip
        assert response.status_code == 200, response.text
        p = response.json()
        assert (p["rev"], p["size"], p["index"]) == (rev, size, rev - 1)
        root, leaf = bytes.fromhex(p["root"]), bytes.fromhex(p["leaf"])
        proof = [bytes.fromhex(x) for x in p["proof"]]
        # The root is the tree over the chain hashes the client can recompute from /events.
        assert root == rust_core.merkle_root(hashes[:size]) and leaf == hashes[rev - 1]
        assert rust_core.merkle_verify(root, leaf, rev - 1, size, proof)
        if proof:
            forged = bytearray(proof[0])
            forged[5] ^= 0x40
            assert not rust_core.merkle_verify(
                root, leaf, rev - 1, size, [bytes(forged), *proof[1:]]
            )
        if size > 1:  # another event's hash is not at this position
            assert not rust_core.merkle_verify(root, hashes[rev % size], rev - 1, size, proof)
    whole = (await client.get(c.url("proof"), params={"rev": 2}, headers=c.headers)).json()
    assert whole["size"] == len(events)  # size defaults to the head

    for params, status, code in [
        ({"rev": 5, "size": 4}, 400, "bad_request"),
        ({"rev": 1, "size": len(events) + 1}, 400, "bad_request"),
        ({"rev": len(events) + 1}, 400, "bad_request"),
        ({"rev": 0, "size": 3}, 422, "validation_error"),
        ({"rev": 1, "size": 0}, 422, "validation_error"),
        ({}, 422, "validation_error"),
    ]:
        response = await client.get(c.url("proof"), params=params, headers=c.headers)
        assert_error(response, status, code)


async def test_history_tells_each_event_in_words(client, chapter):
    c = chapter
    page = (await client.get(c.url("history"), headers=c.headers)).json()
    history = page["history"]
    assert page["next_after"] is None and page["head"]["rev"] == len(history)
    summaries = [h["summary"] for h in history]
    assert summaries[0] == 'created the chapter "Lighthouses"'
    assert "added report.md tagged survey" in summaries
    assert "added notes.txt" in summaries
    assert any(re.fullmatch(r"extracted report\.md: \d+ chunks?", s) for s in summaries)
    assert "edited the text of report.md" in summaries
    assert "retagged report.md: final, survey" in summaries
    assert "removed notes.txt" in summaries
    assert "asked: What did it cost?" in summaries
    assert "answered: Fourteen thousand pounds [1]. (1 citation, extractive)" in summaries
    assert summaries[-1] == 'renamed the chapter to "Lighthouses, revised"'
    assert {h["type"] for h in history} >= {"SourceAdded", "SourceExtracted", "MessagePosted"}
    for h in history:
        parsed = datetime.fromisoformat(h["at"])
        assert int(parsed.timestamp() * 1000) == h["at_ms"]
    ingest = [h for h in history if h["type"] == "SourceExtracted"]
    assert ingest and all(h["actor"].startswith("proc:") for h in ingest)

    # A later page names sources added on an earlier one (from the catalogue).
    later = (await client.get(c.url("history"), params={"after": c.marks["edited"]},
                              headers=c.headers)).json()  # fmt: skip
    assert "removed notes.txt" in [h["summary"] for h in later["history"]]
    first = (await client.get(c.url("history"), params={"limit": 2}, headers=c.headers)).json()
    assert [h["rev"] for h in first["history"]] == [1, 2] and first["next_after"] == 2


@pytest.mark.parametrize(
    ("route", "params", "status", "code"),
    [
        ("events", {"limit": 0}, 422, "validation_error"),
        ("events", {"limit": 1001}, 422, "validation_error"),
        ("events", {"after": -1}, 422, "validation_error"),
        ("events", {"after": "x"}, 422, "validation_error"),
        ("history", {"limit": 1001}, 422, "validation_error"),
        ("state", {"rev": -1}, 422, "validation_error"),
        ("state", {"rev": 10_000}, 400, "bad_request"),
        ("state", {"rev": 1, "at": "1700000000000"}, 400, "bad_request"),
        ("state", {"at": "yesterday"}, 400, "bad_request"),
        ("state", {"at": "²"}, 400, "bad_request"),
        ("state", {"at": "x" * 65}, 422, "validation_error"),
    ],
)
async def test_bad_parameters_are_refused_clearly(client, route, params, status, code):
    headers = bearer(await sign_up(client))
    book = await client.post("/v1/books", json={"name": "B"}, headers=headers)
    made = await client.post(
        f"/v1/books/{book.json()['id']}/chapters", json={"title": "T"}, headers=headers
    )
    url = f"/v1/chapters/{made.json()['id']}/{route}"
    response = await client.get(url, params=params, headers=headers)
    assert_error(response, status, code)


async def test_an_unknown_chapter_is_404(client):
    headers = bearer(await sign_up(client))
    for route in ("events", "state", "verify", "proof?rev=1", "history"):
        response = await client.get(f"/v1/chapters/{new_id()}/{route}", headers=headers)
        assert_error(response, 404, "not_found")


async def test_an_event_from_a_newer_version_is_shown_not_dropped(client, services):
    # A newer writer's event type: this version keeps its bytes, shows its fields and says so.
    headers = bearer(await sign_up(client))
    book = await client.post("/v1/books", json={"name": "B"}, headers=headers)
    made = await client.post(
        f"/v1/books/{book.json()['id']}/chapters", json={"title": "T"}, headers=headers
    )
    chapter_id = made.json()["id"]
    log = services.logs.chapter(chapter_id)
    head = await log.head()
    raw = msgspec.msgpack.encode(
        {"type": "SourceAnnotated", "note": "see p. 3", "mark": b"\x00\x01"}
    )
    payload = encode(
        Envelope(
            id=new_id(), chapter=chapter_id, rev=head.rev + 1, at=1_700_000_000_000,
            actor="u-future", body=UnknownEvent("SourceAnnotated", raw),
        )
    )  # fmt: skip
    link = rust_core.chain_link(head.hash, payload)
    await log.nc.jetstream().publish(log.subject, payload, headers={HASH_HEADER: link.hex()})

    url = f"/v1/chapters/{chapter_id}"
    events = (await client.get(f"{url}/events", headers=headers)).json()["events"]
    assert events[-1]["event"] == {"type": "SourceAnnotated", "note": "see p. 3", "mark": "AAE="}
    assert base64.b64decode(events[-1]["payload"]) == payload
    history = (await client.get(f"{url}/history", headers=headers)).json()["history"]
    assert history[-1]["type"] == "SourceAnnotated"
    assert history[-1]["summary"] == "SourceAnnotated (an event this version does not know)"
    assert history[-1]["at"] == "2023-11-14T22:13:20.000Z"
    now = (await client.get(f"{url}/state", headers=headers)).json()
    assert (now["rev"], now["title"]) == (head.rev + 1, "T")
    assert (await client.get(f"{url}/verify", headers=headers)).json()["ok"]
