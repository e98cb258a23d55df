"""client/chain.py: the client's own chain check over events a server hands out (what `ragstack
verify` runs over HTTP), fed page by page; tampering is named at the exact revision."""

from __future__ import annotations

import pytest

from client.chain import ChainChecker
from events import ChapterRenamed, Envelope, RecordedEvent, encode, new_id
from rust_core import GENESIS, chain_fold

CHAPTER = new_id()


def make_log(chapter: str, count: int) -> list[RecordedEvent]:
    payloads = [
        encode(
            Envelope(
                id=new_id(),
                chapter=chapter,
                rev=rev,
                at=1_700_000_000_000 + rev,
                actor="u_alice",
                body=ChapterRenamed(title=f"title {rev}"),
            )
        )
        for rev in range(1, count + 1)
    ]
    hashes = chain_fold(GENESIS, payloads)
    return [
        RecordedEvent(rev=i + 1, hash=h, payload=p)
        for i, (p, h) in enumerate(zip(payloads, hashes, strict=True))
    ]


def check(events: list[RecordedEvent], page: int = 3, chapter: str = CHAPTER):
    checker = ChainChecker(chapter)
    for start in range(0, len(events), page):
        if not checker.feed(events[start : start + page]):
            break
    return checker.result()


def renumbered(events: list[RecordedEvent]) -> list[RecordedEvent]:
    """The same stored messages served under consecutive revs (as a stream would after a splice)."""
    return [RecordedEvent(rev=i + 1, hash=e.hash, payload=e.payload) for i, e in enumerate(events)]


@pytest.mark.parametrize("page", [1, 3, 10])
def test_an_intact_log_verifies_in_any_page_size(page):
    events = make_log(CHAPTER, 10)
    result = check(events, page)
    assert result.ok and result.events == 10 and result.head.rev == 10
    assert result.head.hash == events[-1].hash.hex()
    assert result.first_bad_rev is None


def test_an_empty_log_verifies():
    result = check([])
    assert result.ok and result.events == 0 and result.head.hash == GENESIS.hex()


def test_a_flipped_byte_is_named():
    events = make_log(CHAPTER, 8)
    bad = bytearray(events[5].payload)
    bad[-1] ^= 1
    events[5] = RecordedEvent(rev=6, hash=events[5].hash, payload=bytes(bad))
    result = check(events)
    assert (result.ok, result.first_bad_rev, result.head.rev) == (False, 6, 5)
    assert result.head.hash == events[4].hash.hex()


def test_a_dropped_event_is_named():
    events = make_log(CHAPTER, 8)
    result = check(renumbered(events[:3] + events[4:]))
    assert (result.ok, result.first_bad_rev) == (False, 4)


def test_two_swapped_events_are_named():
    events = make_log(CHAPTER, 8)
    events[2], events[3] = events[3], events[2]
    result = check(renumbered(events))
    assert (result.ok, result.first_bad_rev) == (False, 3)


def test_an_event_from_another_chapter_is_named_even_with_its_own_valid_chain():
    other = make_log(new_id(), 4)
    result = check(other)
    assert (result.ok, result.first_bad_rev) == (False, 1)
    assert "belongs to" in (result.reason or "")


def test_a_gap_in_the_revs_the_server_sent_is_named():
    events = make_log(CHAPTER, 6)
    result = check(events[:2] + events[3:])
    assert (result.ok, result.first_bad_rev) == (False, 3)
    assert "missing" in (result.reason or "")


def test_later_pages_are_ignored_after_a_fault():
    events = make_log(CHAPTER, 6)
    checker = ChainChecker(CHAPTER)
    assert checker.feed(events[:2])
    assert not checker.feed(events[3:4])  # rev 3 missing
    assert not checker.feed(events[2:])  # too late: the verdict stands
    assert checker.result().first_bad_rev == 3
