"""Checking a chapter's hash chain: recompute it from the stored payloads, name the first bad rev.

Three things must hold at every revision n (docs/architecture.md, "The log in one page"): the hash recomputed from the
payloads, h[n] = BLAKE3("ragstack.chain.v1" || h[n-1] || payload[n]), equals the stored one
(nothing altered, dropped, reordered or inserted); the envelope says rev n (it was written for
this position); and it names this chapter (it was not spliced in from another). The engine
(`engine/verify.py`) and the client (`client/chain.py`) both check with this; the chain itself is
recomputed in Rust a batch at a time. Pure: the caller brings the bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import msgspec

from events.envelope import RecordedEvent
from rust_core import GENESIS, verify_chain

__all__ = ["ChainCheck", "missing_rev"]


class _Stamp(msgspec.Struct):
    """The two envelope fields the check needs; the body is skipped, not decoded."""

    chapter: str
    rev: int


_stamp_decoder = msgspec.msgpack.Decoder(_Stamp)


def missing_rev(expected: int, found: int) -> str:
    """The default reason when the events skip from one revision to another."""
    return f"rev {expected} is missing (found rev {found} in its place)"


class ChainCheck:
    """Feed a chapter's events in order, a batch at a time; the first fault stops the check.

    `prev` is h[start_rev - 1] (GENESIS when the events start at rev 1). After a fault, `bad_rev`
    and `reason` say where and what, and `prev` / `next_rev` stay at the last event that verified.
    """

    def __init__(self, chapter: str, *, prev: bytes = GENESIS, start_rev: int = 1) -> None:
        self.chapter = chapter
        self.prev = prev
        self.start_rev = start_rev
        self.next_rev = start_rev
        self.bad_rev: int | None = None
        self.reason: str | None = None

    @property
    def failed(self) -> bool:
        """Whether a fault has been found."""
        return self.bad_rev is not None

    @property
    def verified(self) -> int:
        """How many events verified, in order from `start_rev`."""
        return self.next_rev - self.start_rev

    def fail(self, rev: int, reason: str) -> bool:
        """Record a fault the caller found itself (e.g. a revision missing from the stream)."""
        if self.bad_rev is None:
            self.bad_rev, self.reason = rev, reason
        return False

    def feed(self, payloads: Sequence[bytes], hashes: Sequence[bytes]) -> bool:
        """Check the next contiguous events (revisions `next_rev`, `next_rev + 1`, …): their
        payloads and stored hashes. False from the first fault on (later batches are ignored)."""
        if self.failed:
            return False
        first = self.next_rev
        chain_bad = verify_chain(self.prev, payloads, hashes)
        checked = len(payloads) if chain_bad is None else chain_bad + 1
        for i in range(checked):
            rev = first + i
            try:
                stamp = _stamp_decoder.decode(payloads[i])
            except (msgspec.DecodeError, msgspec.ValidationError):
                return self._stop(rev, f"the payload at rev {rev} is not an event envelope", hashes)
            if stamp.chapter != self.chapter:
                return self._stop(
                    rev, f"the event at rev {rev} belongs to {stamp.chapter!r}", hashes
                )
            if stamp.rev != rev:
                return self._stop(
                    rev, f"the event at rev {rev} was written for rev {stamp.rev}", hashes
                )
        if chain_bad is not None:
            rev = first + chain_bad
            return self._stop(
                rev,
                f"the stored hash at rev {rev} does not match the chain recomputed from the "
                "payloads (an event was altered, dropped, reordered or inserted)",
                hashes,
            )
        if hashes:
            self.prev = hashes[-1]
        self.next_rev = first + len(payloads)
        return True

    def feed_events(
        self,
        events: Iterable[RecordedEvent],
        *,
        gap: Callable[[int, int], str] = missing_rev,
    ) -> bool:
        """Check the next events, which must carry revisions `next_rev`, `next_rev + 1`, …; at the
        first that does not, the events before it are checked, then `gap(expected, found)` is the
        fault (a copy that skips or repeats a revision fails even when its hashes agree)."""
        if self.failed:
            return False
        page = list(events)
        for i, event in enumerate(page):
            if event.rev != self.next_rev + i:
                if not self.feed([e.payload for e in page[:i]], [e.hash for e in page[:i]]):
                    return False
                return self.fail(self.next_rev, gap(self.next_rev, event.rev))
        return self.feed([e.payload for e in page], [e.hash for e in page])

    def _stop(self, rev: int, reason: str, hashes: Sequence[bytes]) -> bool:
        good = rev - self.next_rev  # events of this batch that verified before `rev`
        if good > 0:
            self.prev = hashes[good - 1]
        self.next_rev = rev
        return self.fail(rev, reason)
