"""Verify a chapter's hash chain and signed heads on the client, from the bytes a server hands out.

An auditor should not have to take the server's word (GET …/verify) for it: GET …/events serves
each event's stored payload and its `Rs-Hash`, and `events.chain.ChainCheck` recomputes the chain
over them with rust_core, with the same rules as the engine (docs/architecture.md, "The log in one page"): at every rev n
the recomputed h[n] equals the stored hash, the envelope says rev n, and it names this chapter.
Each `HeadSigned` is checked by `events.heads.HeadCheck` against the book's keys, which GET
/v1/books/{book}/keys lists and `events.keys.KeyHistory.of_keys` re-checks here (every rotation
signed by the key before it).

`KeyPin` is trust on first use: whoever follows a chapter (a replica, client/replica.py) pins the
first key it sees sign, and refuses a later key unless the book's key history reaches it from the
pinned one by valid rotations. A log rewritten and re-signed under a new key is thus refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from client.models import Head, VerifyResult
from events import HeadSigned, RecordedEvent
from events.chain import ChainCheck
from events.heads import HeadCheck, head_signature_ok
from events.keys import KeyHistory

__all__ = ["ChainChecker", "KeyPin", "check_heads"]


def _missing(expected: int, found: int) -> str:
    return f"rev {expected} is missing (the server sent rev {found})"


class ChainChecker:
    """Feed a chapter's events in order, a page at a time; `result()` says whether they verify."""

    def __init__(self, chapter: str, keys: KeyHistory | None = None) -> None:
        self.chapter = chapter
        self._check = ChainCheck(chapter)
        self._heads = HeadCheck(chapter, keys)

    @property
    def failed(self) -> bool:
        return self._check.failed or self._heads.failed

    @property
    def bad(self) -> int | None:
        """The first revision that does not verify."""
        return self.result().first_bad_rev

    @property
    def reason(self) -> str | None:
        """What is wrong there, for a human."""
        return self.result().reason

    def feed(self, events: Iterable[RecordedEvent]) -> bool:
        """Check the next events; False from the first fault on (later pages are ignored)."""
        if self.failed:
            return False
        page = list(events)
        before = self._check.next_rev
        fine = self._check.feed_events(page, gap=_missing)
        good = page[: self._check.next_rev - before]
        self._heads.feed([e.payload for e in good], [e.hash for e in good])
        return fine and not self._heads.failed

    def result(self) -> VerifyResult:
        """The verdict so far."""
        check, heads = self._check, self._heads
        bad, reason = check.bad_rev, check.reason
        rev, head = check.next_rev - 1, check.prev
        if heads.bad_rev is not None and (bad is None or heads.bad_rev < bad):
            bad, reason = heads.bad_rev, heads.reason
            rev = heads.bad_rev - 1
            head = heads.hash_at(rev)
        keys = heads.keys
        bad_book_rev = keys.bad_rev if keys is not None else None
        if bad_book_rev is not None and reason is None:
            reason = f"the book's key history is broken at {keys.reason if keys else ''}"
        last = heads.last_signed
        return VerifyResult(
            ok=bad is None and bad_book_rev is None,
            events=rev,
            head=Head(rev=rev, hash=head.hex()),
            first_bad_rev=bad,
            reason=reason,
            signed=heads.signed,
            signed_rev=last.rev if last is not None else None,
            bad_book_rev=bad_book_rev,
        )


class KeyPin:
    """Trust on first use of a book's signing key (see the module docstring)."""

    def __init__(self, pinned: str | None = None) -> None:
        self.pinned = pinned
        """The hex public key trusted first (None until one is seen)."""

    def check(self, key: str, keys: KeyHistory | None = None) -> str | None:
        """Why a head signed by `key` must be refused, or None (pinning it if it is the first).
        `keys` is the book's key history, needed only to accept a key other than the pinned."""
        if self.pinned is None:
            self.pinned = key
            return None
        if key == self.pinned:
            return None
        if keys is None:
            return (
                f"signed by key {key[:16]}…, not the pinned key {self.pinned[:16]}…, and no key "
                "history was given to show a rotation to it"
            )
        if keys.failed:
            return f"the book's key history is broken ({keys.reason})"
        if not keys.reaches(self.pinned) or keys.find(key) is None:
            return (
                f"signed by key {key[:16]}…, which no valid rotation from the pinned key "
                f"{self.pinned[:16]}… reaches: the log may have been rewritten under a new key"
            )
        old, new = keys.find(self.pinned), keys.find(key)
        if old is None or new is None or new.from_rev < old.from_rev:
            return f"key {key[:16]}… was retired before the pinned key {self.pinned[:16]}…"
        return None


def check_heads(
    chapter: str,
    events: Sequence[RecordedEvent],
    prev: bytes,
    pin: KeyPin,
    keys: KeyHistory | None = None,
) -> tuple[int, int, str] | None:
    """(index, rev, reason) of the first signed head to refuse among events whose chain has
    verified (`prev` is the hash before the first): a signature that does not verify, a head that
    is not the one just before it, or a key the pin does not accept. The pin takes the first key.

    For a follower that holds only the chain's tip, not every hash: a head signed behind the tip
    is checked for its signature and key, not for its head and root."""
    for i, event in enumerate(events):
        body = event.envelope.body if b"HeadSigned" in event.payload else None
        if isinstance(body, HeadSigned):
            where = f"the signed head at rev {event.rev}"
            if body.rev == event.rev - 1 and body.head != prev.hex():
                return i, event.rev, f"{where} is not h[{body.rev}]"
            if not head_signature_ok(chapter, body):
                return i, event.rev, f"{where} does not verify"
            refused = pin.check(body.key, keys)
            if refused is not None:
                return i, event.rev, f"{where} is {refused}"
        prev = event.hash
    return None
