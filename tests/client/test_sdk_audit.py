"""The SDK's audit calls against the real app: events as stored (checked here), history, state at
a rev or a time, verification by the server and on the client, Merkle proofs."""

from __future__ import annotations

import pytest

from client.sdk import ApiError, AsyncClient, ChapterState, Proof
from events import ChapterRenamed, RecordedEvent
from rust_core import GENESIS, chain_fold


@pytest.fixture
async def chapter(alice: AsyncClient) -> str:
    """A chapter of eight events: created, a source added and extracted, five renames."""
    book = await alice.create_book("Audit")
    made = await alice.create_chapter(book.id, "Ledger")
    await alice.upload(made.id, b"The ledger balances.", name="ledger.txt", wait=True)
    for i in range(5):
        await alice.rename_chapter(made.id, f"Ledger {i}")
    return made.id


async def test_events_page_by_page_carry_the_stored_bytes(alice: AsyncClient, chapter: str):
    first = await alice.events(chapter, limit=3)
    assert [e.rev for e in first.events] == [1, 2, 3]
    assert first.head.rev == 8 and first.next_after == 3

    every = [e async for e in alice.iter_events(chapter)]
    assert [e.rev for e in every] == list(range(1, 9))
    # The payloads are the stored bytes: the chain recomputed here matches the stored hashes.
    recorded = [e.recorded() for e in every]
    assert chain_fold(GENESIS, [r.payload for r in recorded]) == [r.hash for r in recorded]
    # The title is personal: sealed out of the stored bytes, shown opened in `event`.
    raw = every[-1].envelope().body
    assert isinstance(raw, ChapterRenamed) and raw.title == "" and raw.sealed is not None
    assert every[-1].event["title"] == "Ledger 4" and every[-1].event["sealed"] == raw.sealed
    assert every[0].event["type"] == "ChapterCreated" and every[0].actor

    part = [e.rev async for e in alice.iter_events(chapter, after=2, until=5)]
    assert part == [3, 4, 5]


async def test_history_pages_and_iterates(alice: AsyncClient, chapter: str):
    page = await alice.history(chapter, after=1, limit=2)
    assert [(h.rev, h.type) for h in page.history] == [(2, "SourceAdded"), (3, "SourceExtracted")]
    assert page.history[0].summary == "added ledger.txt"
    assert page.next_after == 3

    entries = [h async for h in alice.iter_history(chapter, after=2, limit=4)]
    assert [h.rev for h in entries] == [3, 4, 5, 6]
    assert all(h.at and h.at_ms for h in entries)


async def test_state_at_a_rev_and_at_a_time(alice: AsyncClient, chapter: str):
    early = await alice.state(chapter, rev=2)
    assert isinstance(early, ChapterState)
    assert (early.rev, early.title) == (2, "Ledger")
    assert [(s.name, s.status) for s in early.sources] == [("ledger.txt", "pending")]

    now = await alice.state(chapter)
    assert (now.rev, now.title, now.sources[0].status) == (8, "Ledger 4", "extracted")

    stamps = [e.at async for e in alice.iter_events(chapter)]
    then = await alice.state(chapter, at=stamps[3])
    assert then.rev >= 4 and then.title.startswith("Ledger")

    with pytest.raises(ApiError) as caught:
        await alice.state(chapter, rev=99)
    assert caught.value.status == 400 and "8 events" in caught.value.message


async def test_server_and_client_verification_agree(alice: AsyncClient, chapter: str):
    server = await alice.verify(chapter)
    here = await alice.verify_here(chapter)
    assert server.ok and here.ok
    assert (here.events, here.head.rev) == (8, 8)
    assert here.head == server.head


async def test_a_merkle_proof_checks_here(alice: AsyncClient, chapter: str):
    proof = await alice.proof(chapter, 3, size=8)
    assert isinstance(proof, Proof) and proof.verify()
    leaves = [e.recorded().hash async for e in alice.iter_events(chapter)]
    assert bytes.fromhex(proof.leaf) == leaves[2]
    forged = Proof(**{**_fields(proof), "leaf": leaves[3].hex()})
    assert not forged.verify()


def _fields(proof: Proof) -> dict:
    return {f: getattr(proof, f) for f in proof.__struct_fields__}


def test_recorded_event_round_trip_is_exact():
    # LogEvent.recorded() decodes hex and base64 back to the very bytes the chain hashes.
    from client.models import LogEvent

    payload = b"\x85\x01payload"
    event = LogEvent(rev=1, hash="ab" * 32, payload="hQFwYXlsb2Fk")
    assert event.recorded() == RecordedEvent(rev=1, hash=bytes.fromhex("ab" * 32), payload=payload)


async def test_a_diff_search_as_of_a_rev_and_an_answers_provenance(
    alice: AsyncClient, chapter: str
):
    # The diff from before the source to now: the source added, four renames net one.
    changes = await alice.diff(chapter, 1)
    assert (changes.from_rev, changes.to_rev) == (1, 8)
    assert [s.name for s in changes.sources_added] == ["ledger.txt"]
    assert changes.renamed is not None and changes.renamed.new == "Ledger 4"
    with pytest.raises(ApiError) as caught:
        await alice.diff(chapter, 5, 3)
    assert (caught.value.status, caught.value.code) == (400, "rev_out_of_range")

    # Before extraction (rev 2) nothing was searchable; at rev 3 the ledger was.
    assert await alice.search(chapter, "ledger", rev=2) == []
    assert [h.source_name for h in await alice.search(chapter, "ledger", rev=3)] == ["ledger.txt"]

    answer = await alice.ask(chapter, "Does the ledger balance?")
    assert answer.thread is not None
    found = await alice.provenance(chapter, answer.thread, answer.id)
    assert found.same and found.answered_at_rev == answer.rev
    assert [p.verified for p in found.citations] == [True] * len(answer.citations)
