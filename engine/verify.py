"""Verification: recompute a log's hash chain from the stored payloads and name the first bad rev.

Three things must hold at every revision n: the hash recomputed from the payloads equals the
message's `Rs-Hash` (nothing altered, dropped, reordered or inserted), the envelope says rev n
(it was written for this position), and the envelope names this log (it was not spliced in from
another chapter). One streaming pass; the chain itself is checked in Rust a batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from engine.log import GENESIS, Log
from engine.wire import Hole
from events import RecordedEvent
from rust_core import verify_chain

__all__ = ["VerifyReport", "verify_events", "verify_log"]


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a verification."""

    ok: bool
    """Whether every event verified."""
    events: int
    """How many events verified, in order from the start (all of them when `ok`)."""
    head_rev: int
    """The last revision that verified (the log's head when `ok`)."""
    head_hash: bytes
    """h[head_rev]: the last hash that can be trusted."""
    first_bad_rev: int | None = None
    """The first revision that does not verify."""
    reason: str | None = None
    """What is wrong there, for a human."""

    @property
    def head_hex(self) -> str:
        """`head_hash` in hex."""
        return self.head_hash.hex()


class _Stamp(msgspec.Struct):
    """The two envelope fields verification needs; the body is skipped, not decoded."""

    chapter: str
    rev: int


_stamp_decoder = msgspec.msgpack.Decoder(_Stamp)


class _Verifier:
    def __init__(self, chapter: str, prev: bytes, start_rev: int) -> None:
        self.chapter = chapter
        self.prev = prev
        self.start_rev = start_rev
        self.next_rev = start_rev
        self.bad: int | None = None
        self.reason: str | None = None

    def fail(self, rev: int, reason: str) -> None:
        self.bad, self.reason = rev, reason

    def feed(self, payloads: Sequence[bytes], hashes: Sequence[bytes]) -> bool:
        """Check the next contiguous events; False (with `bad` and `reason`) at the first fault."""
        first = self.next_rev
        chain_bad = verify_chain(self.prev, payloads, hashes)
        limit = len(payloads) if chain_bad is None else chain_bad + 1
        for i in range(limit):
            rev = first + i
            try:
                stamp = _stamp_decoder.decode(payloads[i])
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.fail(rev, f"the payload at rev {rev} is not an event envelope")
                break
            if stamp.chapter != self.chapter:
                self.fail(rev, f"the event at rev {rev} belongs to {stamp.chapter!r}")
                break
            if stamp.rev != rev:
                self.fail(rev, f"the event at rev {rev} was written for rev {stamp.rev}")
                break
        else:
            if chain_bad is not None:
                self.fail(
                    first + chain_bad,
                    f"the stored hash at rev {first + chain_bad} does not match the chain "
                    "recomputed from the payloads (an event was altered, dropped, reordered "
                    "or inserted)",
                )
        if self.bad is not None:
            good = self.bad - first
            if good > 0:
                self.prev = hashes[good - 1]
            self.next_rev = self.bad
            return False
        self.prev = hashes[-1] if hashes else self.prev
        self.next_rev = first + len(payloads)
        return True

    def report(self) -> VerifyReport:
        return VerifyReport(
            ok=self.bad is None,
            events=self.next_rev - self.start_rev,
            head_rev=self.next_rev - 1,
            head_hash=self.prev,
            first_bad_rev=self.bad,
            reason=self.reason,
        )


async def verify_log(log: Log, *, chapter: str | None = None) -> VerifyReport:
    """Verify a whole log as stored. `chapter` is the id its envelopes must name (default: the
    log's own id; give the original's id to verify a copy kept in another stream)."""
    verifier = _Verifier(chapter or log.id, GENESIS, 1)
    async for item in log.stored_batches():
        if isinstance(item, Hole):
            verifier.fail(item.expected, f"rev {item.expected} is missing from the stream")
            break
        if item.first != verifier.next_rev:
            verifier.fail(verifier.next_rev, f"rev {verifier.next_rev} is missing from the stream")
            break
        if not verifier.feed(item.payloads, item.hashes):
            break
    return verifier.report()


def verify_events(
    chapter_id: str,
    events: Iterable[RecordedEvent],
    prev: bytes = GENESIS,
    start_rev: int = 1,
) -> VerifyReport:
    """Verify a copy held elsewhere: `events` must be the chapter's events from `start_rev` on,
    in order; `prev` is h[start_rev - 1] (GENESIS when the copy starts at rev 1)."""
    verifier = _Verifier(chapter_id, prev, start_rev)
    events = list(events)
    for i, event in enumerate(events):
        if event.rev != start_rev + i:
            # A dropped, repeated or moved event: the chain check below names the same rev
            # when its hashes disagree, but a mislabelled copy must fail even when they agree.
            verifier.feed([e.payload for e in events[:i]], [e.hash for e in events[:i]])
            if verifier.bad is None:
                verifier.fail(
                    start_rev + i,
                    f"the copy holds rev {event.rev} where rev {start_rev + i} belongs",
                )
            return verifier.report()
    verifier.feed([e.payload for e in events], [e.hash for e in events])
    return verifier.report()
