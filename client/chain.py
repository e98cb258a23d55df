"""Verify a chapter's hash chain on the client, from the bytes a server hands out.

An auditor should not have to take the server's word (GET …/verify) for it: GET …/events serves
each event's stored payload and its `Rs-Hash`, and this recomputes the chain over them with
rust_core, with the same rules as the engine (DESIGN.md, "The log"): at every rev n the recomputed
h[n] equals the stored hash, the envelope says rev n, and it names this chapter.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from client.models import Head, VerifyResult
from events import RecordedEvent
from rust_core import GENESIS, verify_chain

__all__ = ["ChainChecker"]


class _Stamp(msgspec.Struct):
    chapter: str
    rev: int


_stamp = msgspec.msgpack.Decoder(_Stamp)


class ChainChecker:
    """Feed a chapter's events in order, a page at a time; `result()` says whether they verify."""

    def __init__(self, chapter: str) -> None:
        self.chapter = chapter
        self.prev = GENESIS
        self.next_rev = 1
        self.bad: int | None = None
        self.reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.bad is not None

    def feed(self, events: Iterable[RecordedEvent]) -> bool:
        """Check the next events; False from the first fault on (later pages are ignored)."""
        if self.failed:
            return False
        page = list(events)
        for i, event in enumerate(page):
            if event.rev != self.next_rev + i:
                # Check what came before the gap first: a fault there is the first bad rev.
                if not self.feed(page[:i]):
                    return False
                return self._fail(
                    self.next_rev,
                    f"rev {self.next_rev} is missing (the server sent rev {event.rev})",
                )
        first = self.next_rev
        chain_bad = verify_chain(self.prev, [e.payload for e in page], [e.hash for e in page])
        limit = len(page) if chain_bad is None else chain_bad + 1
        for i in range(limit):
            rev = first + i
            try:
                stamp = _stamp.decode(page[i].payload)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return self._fail(rev, f"the payload at rev {rev} is not an event envelope")
            if stamp.chapter != self.chapter:
                return self._fail(rev, f"the event at rev {rev} belongs to {stamp.chapter!r}")
            if stamp.rev != rev:
                return self._fail(rev, f"the event at rev {rev} was written for rev {stamp.rev}")
            if i == chain_bad:
                return self._fail(
                    rev,
                    f"the stored hash at rev {rev} does not match the chain recomputed from the "
                    "payloads (an event was altered, dropped, reordered or inserted)",
                )
            self.prev = page[i].hash
            self.next_rev = rev + 1
        return True

    def _fail(self, rev: int, reason: str) -> bool:
        self.bad, self.reason = rev, reason
        return False

    def result(self) -> VerifyResult:
        """The verdict so far."""
        return VerifyResult(
            ok=not self.failed,
            events=self.next_rev - 1,
            head=Head(rev=self.next_rev - 1, hash=self.prev.hex()),
            first_bad_rev=self.bad,
            reason=self.reason,
        )
