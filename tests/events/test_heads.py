"""Signed tree heads and book keys, checked from bytes alone: every forgery names its rev."""

from __future__ import annotations

import msgspec

from engine.verify import verify_events
from events import (
    BookCreated,
    BookKeyAdded,
    BookKeyRotated,
    ChapterRenamed,
    Envelope,
    HeadSigned,
    RecordedEvent,
    encode,
)
from events.heads import HEAD_V1, HeadCheck, MerkleFrontier, head_message, sign_head
from events.keys import (
    KeyHistory,
    key_message,
    new_private_key,
    public_key_of,
    rotation,
    sign,
    signature_ok,
)
from rust_core import GENESIS, chain_link, merkle_root

CHAPTER = "01hchapter0000000000000000"
OTHER = "01hother000000000000000000"
BOOK = "01hbook0000000000000000000"


class Key:
    def __init__(self) -> None:
        self.private = new_private_key()
        self.public = public_key_of(self.private)


def book_log(*bodies, at: list[int] | None = None) -> list[Envelope]:
    times = at or [1000 * (i + 1) for i in range(len(bodies))]
    return [
        Envelope(id=f"e{i}", chapter=BOOK, rev=i + 1, at=times[i], actor="ann", body=b)
        for i, b in enumerate(bodies)
    ]


class Chapter:
    """A chapter log built in memory, event by event, as the engine would store it."""

    def __init__(self, chapter: str = CHAPTER) -> None:
        self.chapter = chapter
        self.events: list[RecordedEvent] = []

    @property
    def head(self) -> bytes:
        return self.events[-1].hash if self.events else GENESIS

    def append(self, body, at: int = 5000) -> RecordedEvent:
        rev = len(self.events) + 1
        envelope = Envelope(
            id=f"c{rev}", chapter=self.chapter, rev=rev, at=at, actor="u", body=body
        )
        payload = encode(envelope)
        event = RecordedEvent(rev=rev, hash=chain_link(self.head, payload), payload=payload)
        self.events.append(event)
        return event

    def root(self, rev: int) -> str:
        return merkle_root([e.hash for e in self.events[:rev]]).hex()

    def sign(self, key: Key, at: int = 5000, *, root: bool = True) -> RecordedEvent:
        rev = len(self.events)
        head = self.head.hex()
        if root:
            body = sign_head(key.private, key.public, self.chapter, rev, head, self.root(rev))
        else:  # a v1 head, as written before roots
            message = head_message(self.chapter, rev, head)
            body = HeadSigned(
                rev=rev, head=head, key=key.public, signature=sign(key.private, message)
            )
        return self.append(body, at)


def rename(ch: Chapter, n: int, at: int = 5000) -> None:
    for i in range(n):
        ch.append(ChapterRenamed(title=f"t{len(ch.events)}-{i}"), at)


def test_the_frontier_gives_every_prefix_root():
    leaves = [bytes([i]) * 32 for i in range(37)]
    frontier = MerkleFrontier()
    for i, leaf in enumerate(leaves):
        assert frontier.root() == merkle_root(leaves[:i])
        frontier.extend([leaf])
    assert frontier.root() == merkle_root(leaves)


def test_signing_strings_are_as_documented():
    assert head_message("c", 3, "ab") == b"ragstack.head.v1|c|3|ab"
    assert head_message("c", 3, "ab", "cd") == b"ragstack.head.v2|c|3|ab|cd"
    assert key_message("b", "01", "02") == b"ragstack.key.v1|b|01|02"


def test_signed_heads_v1_and_v2_verify_under_the_books_key():
    key = Key()
    keys = KeyHistory.of(
        BOOK, book_log(BookCreated(name="b", owner="ann"), BookKeyAdded(key=key.public))
    )
    ch = Chapter()
    rename(ch, 5)
    ch.sign(key, root=False)  # a v1 head stays verifiable
    rename(ch, 7)
    ch.sign(key)
    report = verify_events(CHAPTER, ch.events, keys=keys)
    assert report.ok, report
    assert (report.signed, report.signed_rev) == (2, 13)
    # A v2 head's root is the Merkle root a proof at that size is checked against.
    body = ch.events[-1].envelope.body
    assert isinstance(body, HeadSigned) and body.root == ch.root(13)


def _forged(ch: Chapter, at_rev: int, **changes) -> list[RecordedEvent]:
    """The chapter with the HeadSigned at `at_rev` altered and the chain recomputed after it (a
    forger who controls the store re-hashes everything)."""
    forged = Chapter(ch.chapter)
    for event in ch.events:
        body = event.envelope.body
        if event.rev == at_rev:
            body = msgspec.structs.replace(body, **changes)
        forged.append(body, event.envelope.at)
    return forged.events


def test_forged_signatures_wrong_keys_heads_and_roots_name_the_rev():
    key, stranger = Key(), Key()
    keys = KeyHistory.of(BOOK, book_log(BookKeyAdded(key=key.public)))
    ch = Chapter()
    rename(ch, 4)
    ch.sign(key)  # rev 5
    rename(ch, 3)
    signed = ch.sign(key)  # rev 9
    body = signed.envelope.body
    assert isinstance(body, HeadSigned)
    flipped = ("0" if body.signature[0] != "0" else "1") + body.signature[1:]
    bad_root = merkle_root([e.hash for e in ch.events[:7]]).hex()
    other_sig = sign_head(stranger.private, stranger.public, CHAPTER, 8, body.head, body.root or "")
    cases = {
        "a forged signature": {"signature": flipped},
        "signed by a key not of the book": {
            "key": stranger.public,
            "signature": other_sig.signature,
        },
        "a head that is not h[rev]": {"head": ch.events[2].hash.hex()},
        "a root that is not the Merkle root": {"root": bad_root},
        "a v2 signature passed off as v1": {"root": None},
        "a future rev": {"rev": 9},
    }
    for what, changes in cases.items():
        report = verify_events(CHAPTER, _forged(ch, 9, **changes), keys=keys)
        assert not report.ok and report.first_bad_rev == 9, (what, report)
        assert report.signed == 1 and report.events == 8, what
        assert report.reason and "rev 9" in report.reason, what


def test_a_head_signed_for_another_chapter_does_not_verify_here():
    key = Key()
    keys = KeyHistory.of(BOOK, book_log(BookKeyAdded(key=key.public)))
    ch, other = Chapter(), Chapter(OTHER)
    rename(ch, 3)
    rename(other, 3)
    foreign = other.sign(key).envelope.body
    # The same rev and, by construction here, a body naming this chapter's head: still refused,
    # because the signature covers the chapter id.
    assert isinstance(foreign, HeadSigned)
    spliced = msgspec.structs.replace(foreign, head=ch.head.hex(), root=ch.root(3))
    ch.append(spliced)
    report = verify_events(CHAPTER, ch.events, keys=keys)
    assert report.first_bad_rev == 4 and "does not verify" in (report.reason or "")


def test_rotations_must_be_signed_by_the_old_key():
    old, new, thief = Key(), Key(), Key()
    good = KeyHistory.of(
        BOOK, book_log(BookKeyAdded(key=old.public), rotation(BOOK, old.private, new.public))
    )
    assert not good.failed and [k.key for k in good.keys] == [old.public, new.public]
    assert good.keys[0].to_rev == 2 and good.current is not None and good.current.key == new.public
    assert signature_ok(
        old.public, key_message(BOOK, old.public, new.public), good.keys[1].rotation or ""
    )
    # Without the old key's signature (signed by the new key itself, or by a thief): refused.
    for signer in (new, thief):
        forged = BookKeyRotated(
            old=old.public,
            new=new.public,
            signature=sign(signer.private, key_message(BOOK, old.public, new.public)),
        )
        history = KeyHistory.of(BOOK, book_log(BookKeyAdded(key=old.public), forged))
        assert (
            history.failed
            and history.bad_rev == 2
            and "not signed by the old key" in (history.reason or "")
        )
        assert history.current is None and history.find(new.public) is None
    # A second anchor is no way round it either.
    second = KeyHistory.of(
        BOOK, book_log(BookKeyAdded(key=old.public), BookKeyAdded(key=thief.public))
    )
    assert second.failed and second.bad_rev == 2


def test_heads_by_a_key_reached_by_a_forged_rotation_fail_naming_the_rev_and_book_rev():
    old, new = Key(), Key()
    forged = BookKeyRotated(
        old=old.public,
        new=new.public,
        signature=sign(new.private, key_message(BOOK, old.public, new.public)),
    )
    keys = KeyHistory.of(BOOK, book_log(BookKeyAdded(key=old.public), forged))
    ch = Chapter()
    rename(ch, 2)
    ch.sign(old)  # rev 3: before the forged rotation, the old key still counts
    rename(ch, 2)
    ch.sign(new)  # rev 6
    report = verify_events(CHAPTER, ch.events, keys=keys)
    assert not report.ok and report.first_bad_rev == 6 and report.bad_book_rev == 2
    assert "not the book's" in (report.reason or "") and "book rev 2" in (report.reason or "")


def test_a_retired_key_cannot_sign_after_its_rotation():
    old, new = Key(), Key()
    keys = KeyHistory.of(
        BOOK,
        book_log(
            BookKeyAdded(key=old.public), rotation(BOOK, old.private, new.public), at=[1000, 3000]
        ),
    )
    ch = Chapter()
    rename(ch, 2, at=2000)
    ch.sign(old, at=2500)  # rev 3: valid, the old key was current
    ch.sign(new, at=3500)  # rev 4: valid, after the rotation
    assert verify_events(CHAPTER, ch.events, keys=keys).ok
    ch.sign(old, at=4000)  # rev 5: the old key, after it was retired
    report = verify_events(CHAPTER, ch.events, keys=keys)
    assert report.first_bad_rev == 5 and "at that time" in (report.reason or "")


def test_a_head_check_without_keys_checks_each_signature_under_its_own_key():
    key = Key()
    ch = Chapter()
    rename(ch, 3)
    ch.sign(key, root=False)
    check = HeadCheck(CHAPTER)
    assert check.feed([e.payload for e in ch.events], [e.hash for e in ch.events])
    assert check.signed == 1 and check.last_signed is not None
    assert head_message(CHAPTER, 3, ch.events[2].hash.hex()).startswith(HEAD_V1.encode())
