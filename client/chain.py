"""Verify a chapter's hash chain on the client, from the bytes a server hands out.

An auditor should not have to take the server's word (GET …/verify) for it: GET …/events serves
each event's stored payload and its `Rs-Hash`, and `events.chain.ChainCheck` recomputes the chain
over them with rust_core, with the same rules as the engine (docs/architecture.md, "The log in one page"): at every rev n
the recomputed h[n] equals the stored hash, the envelope says rev n, and it names this chapter.
"""

from __future__ import annotations

from collections.abc import Iterable

from client.models import Head, VerifyResult
from events import RecordedEvent
from events.chain import ChainCheck

__all__ = ["ChainChecker"]


def _missing(expected: int, found: int) -> str:
    return f"rev {expected} is missing (the server sent rev {found})"


class ChainChecker:
    """Feed a chapter's events in order, a page at a time; `result()` says whether they verify."""

    def __init__(self, chapter: str) -> None:
        self.chapter = chapter
        self._check = ChainCheck(chapter)

    @property
    def failed(self) -> bool:
        return self._check.failed

    @property
    def bad(self) -> int | None:
        """The first revision that does not verify."""
        return self._check.bad_rev

    @property
    def reason(self) -> str | None:
        """What is wrong there, for a human."""
        return self._check.reason

    def feed(self, events: Iterable[RecordedEvent]) -> bool:
        """Check the next events; False from the first fault on (later pages are ignored)."""
        return self._check.feed_events(events, gap=_missing)

    def result(self) -> VerifyResult:
        """The verdict so far."""
        check = self._check
        return VerifyResult(
            ok=not check.failed,
            events=check.verified,
            head=Head(rev=check.next_rev - 1, hash=check.prev.hex()),
            first_bad_rev=check.bad_rev,
            reason=check.reason,
        )
