"""Trust on first use: a replica pins the first book key that signs a head it applies, and refuses
a later key that no valid rotation from the pinned one reaches (a log rewritten under a new key)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import rust_core
from client.chain import ChainChecker, KeyPin
from client.replica import Replica
from client.replica_rows import ChainBroken
from events import (
    BookKeyAdded,
    BookKeyRotated,
    ChapterCreated,
    ChapterRenamed,
    Envelope,
    RecordedEvent,
    encode,
)
from events.heads import sign_head
from events.keys import KeyHistory, key_message, new_private_key, public_key_of, rotation, sign

SHARE, CHAPTER, BOOK = "01jshare00000000000000000a", "01jchapter0000000000000000", "01jbook"


class Key:
    def __init__(self) -> None:
        self.private = new_private_key()
        self.public = public_key_of(self.private)


class Log:
    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []

    def append(self, body, at: int = 10_000) -> None:
        rev = len(self.events) + 1
        prev = self.events[-1].hash if self.events else rust_core.GENESIS
        payload = encode(
            Envelope(id=f"e{rev}", chapter=CHAPTER, rev=rev, at=at, actor="u", body=body)
        )
        self.events.append(
            RecordedEvent(rev=rev, hash=rust_core.chain_link(prev, payload), payload=payload)
        )

    def sign(self, key: Key, at: int = 10_000) -> None:
        rev = len(self.events)
        root = rust_core.merkle_root([e.hash for e in self.events]).hex()
        self.append(
            sign_head(key.private, key.public, CHAPTER, rev, self.events[-1].hash.hex(), root), at
        )


def history(*bodies, at: list[int] | None = None) -> KeyHistory:
    times = at or [1000 * (i + 1) for i in range(len(bodies))]
    return KeyHistory.of(
        BOOK,
        [
            Envelope(id="", chapter=BOOK, rev=i + 1, at=times[i], actor="", body=b)
            for i, b in enumerate(bodies)
        ],
    )


@pytest.fixture
async def replica(tmp_path: Path):
    opened = await Replica.open(tmp_path / "replica")
    await opened.bind(share=SHARE, chapter=CHAPTER, mode="direct", title="Birds",
                      server="http://owner.test", scope=["sources"])  # fmt: skip
    try:
        yield opened
    finally:
        await opened.close()


def _log(first: Key) -> Log:
    log = Log()
    log.append(ChapterCreated(book=BOOK, title="Birds"))
    log.append(ChapterRenamed(title="Owls"))
    log.sign(first)  # rev 3
    log.append(ChapterRenamed(title="Larks"))  # rev 4
    return log


async def test_the_first_key_is_pinned_and_a_new_key_without_rotation_is_refused(replica, tmp_path):
    a, b = Key(), Key()
    log = _log(a)
    assert await replica.apply_events(log.events, {}) == 4
    assert replica.pinned_key == a.public
    # The log goes on signed by another key, with no rotation to show: refused, naming the rev.
    log.sign(b)  # rev 5
    log.append(ChapterRenamed(title="Wrens"))
    with pytest.raises(ChainBroken) as refused:
        await replica.apply_events(log.events[4:], {})
    assert refused.value.rev == 5 and "pinned" in str(refused.value)
    assert replica.rev == 4
    # Even a book key history that announces the new key as its anchor (the book's log rewritten
    # under a new key) does not reach it from the pinned key.
    rewritten = history(BookKeyAdded(key=b.public))
    with pytest.raises(ChainBroken, match="rewritten under a new key"):
        await replica.apply_events(log.events[4:], {}, keys=rewritten)
    # The pin outlives the process.
    await replica.close()
    reopened = await Replica.open(tmp_path / "replica")
    try:
        assert reopened.pinned_key == a.public and reopened.rev == 4
    finally:
        await reopened.close()


async def test_a_key_reached_by_a_valid_rotation_is_accepted_and_a_forged_one_is_not(replica):
    a, b = Key(), Key()
    log = _log(a)
    await replica.apply_events(log.events, {})
    log.sign(b, at=20_000)  # rev 5
    forged = BookKeyRotated(
        old=a.public, new=b.public, signature=sign(b.private, key_message(BOOK, a.public, b.public))
    )
    with pytest.raises(ChainBroken, match="broken"):
        await replica.apply_events(
            log.events[4:], {}, keys=history(BookKeyAdded(key=a.public), forged)
        )
    valid = history(BookKeyAdded(key=a.public), rotation(BOOK, a.private, b.public))
    assert await replica.apply_events(log.events[4:], {}, keys=valid) == 1
    assert replica.rev == 5 and replica.pinned_key == a.public


async def test_a_forged_signature_is_refused_by_the_replica(replica):
    a = Key()
    log = _log(a)
    body = log.events[2].envelope.body
    forged = Log()
    for event in log.events[:2]:
        forged.append(event.envelope.body)
    bad = body.signature[:-1] + ("0" if body.signature[-1] != "0" else "1")
    forged.append(
        type(body)(rev=body.rev, head=body.head, key=body.key, signature=bad, root=body.root)
    )
    with pytest.raises(ChainBroken) as refused:
        await replica.apply_events(forged.events, {})
    assert refused.value.rev == 3 and replica.rev == 2 and replica.pinned_key == ""


def test_key_pin_alone():
    a, b, c = Key(), Key(), Key()
    pin = KeyPin()
    assert pin.check(a.public) is None and pin.pinned == a.public
    assert pin.check(a.public) is None
    assert "no key history" in (pin.check(b.public) or "")
    chain = history(BookKeyAdded(key=a.public), rotation(BOOK, a.private, b.public))
    assert pin.check(b.public, chain) is None
    assert "rewritten" in (pin.check(c.public, chain) or "")


def test_the_client_checker_uses_the_keys_route_listing():
    a, b = Key(), Key()
    log = _log(a)
    keys = history(
        BookKeyAdded(key=a.public), rotation(BOOK, a.private, b.public), at=[1000, 15_000]
    )
    log.sign(b, at=20_000)
    # What the keys route lists, re-checked from scratch.
    relisted = KeyHistory.of_keys(BOOK, keys.keys)
    assert not relisted.failed and [k.key for k in relisted.keys] == [a.public, b.public]
    checker = ChainChecker(CHAPTER, relisted)
    assert checker.feed(log.events)
    result = checker.result()
    assert result.ok and result.signed == 2 and result.signed_rev == 4
    # A listing whose rotation signature was swapped for another is refused.
    tampered = [keys.keys[0], msgspec.structs.replace(keys.keys[1], rotation="00" * 64)]
    broken = KeyHistory.of_keys(BOOK, tampered)
    assert broken.failed and broken.bad_rev == 2
    checker = ChainChecker(CHAPTER, broken)
    checker.feed(log.events)
    result = checker.result()
    assert not result.ok and result.first_bad_rev == 5 and result.bad_book_rev == 2
