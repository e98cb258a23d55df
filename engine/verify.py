"""Verification: recompute a log's hash chain from the stored payloads, check every signed head,
and name the first bad rev.

The rules (hash, rev, chapter at every revision) are `events.chain.ChainCheck`'s, shared with the
client; each `HeadSigned` is checked by `events.heads.HeadCheck` (its head is h[rev], its root the
Merkle root at rev, its key one of the book's at the time, its signature valid), against the
book's key history (events/keys.py, whose rotations must each be signed by the old key). This
module feeds them a log as stored, in one streaming pass, or a copy held elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from engine.errors import ChapterNotFound
from engine.jetstream.feed import Hole
from engine.log import GENESIS, Log, Logs
from events import RecordedEvent
from events.chain import ChainCheck
from events.heads import HeadCheck
from events.keys import KeyHistory

__all__ = ["VerifyReport", "book_key_history", "verify_events", "verify_log"]


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a verification."""

    ok: bool
    """Whether every event, every signed head and the book's keys verified."""
    events: int
    """How many events verified, in order from the start (all of them when `ok`)."""
    head_rev: int
    """The last revision that verified (the log's head when `ok`)."""
    head_hash: bytes
    """h[head_rev]: the last hash that can be trusted."""
    first_bad_rev: int | None = None
    """The first revision that does not verify (an event, or a `HeadSigned` whose signature,
    head, root or key is wrong)."""
    reason: str | None = None
    """What is wrong there, for a human."""
    signed: int = 0
    """How many signed heads verified."""
    signed_rev: int | None = None
    """The latest rev a verified signature covers."""
    bad_book_rev: int | None = None
    """The book rev of a fault in the book's key history (a rotation not signed by the old
    key, a second anchor); the chapter's signatures are then checked against the keys before."""

    @property
    def head_hex(self) -> str:
        """`head_hash` in hex."""
        return self.head_hash.hex()


def _report(check: ChainCheck, heads: HeadCheck | None = None) -> VerifyReport:
    bad_rev, reason = check.bad_rev, check.reason
    events, head_rev, head_hash = check.verified, check.next_rev - 1, check.prev
    signed, signed_rev, bad_book_rev = 0, None, None
    if heads is not None:
        signed = heads.signed
        signed_rev = heads.last_signed.rev if heads.last_signed is not None else None
        if heads.bad_rev is not None and (bad_rev is None or heads.bad_rev < bad_rev):
            bad_rev, reason = heads.bad_rev, heads.reason
            events, head_rev = heads.bad_rev - 1, heads.bad_rev - 1
            head_hash = heads.hash_at(head_rev)
        keys = heads.keys
        if keys is not None and keys.failed:
            bad_book_rev = keys.bad_rev
            if reason is None:
                reason = f"the book's key history is broken at {keys.reason}"
    return VerifyReport(
        ok=bad_rev is None and bad_book_rev is None,
        events=events,
        head_rev=head_rev,
        head_hash=head_hash,
        first_bad_rev=bad_rev,
        reason=reason,
        signed=signed,
        signed_rev=signed_rev,
        bad_book_rev=bad_book_rev,
    )


async def verify_log(
    log: Log, *, chapter: str | None = None, keys: KeyHistory | None = None
) -> VerifyReport:
    """Verify a whole log as stored. `chapter` is the id its envelopes must name (default: the
    log's own id; give the original's id to verify a copy kept in another stream). `keys` is the
    book's key history (`BookKeys.history`): signatures must be by the book's keys; without it
    each signature is checked only under the key it names."""
    chapter = chapter or log.id
    check = ChainCheck(chapter, prev=GENESIS, start_rev=1)
    heads = HeadCheck(chapter, keys)
    async for item in log.stored_batches():
        if isinstance(item, Hole):
            check.fail(item.expected, f"rev {item.expected} is missing from the stream")
            break
        if item.first != check.next_rev:
            check.fail(check.next_rev, f"rev {check.next_rev} is missing from the stream")
            break
        before = check.next_rev
        fine = check.feed(item.payloads, item.hashes)
        good = check.next_rev - before  # the events of this batch that chain
        heads.feed(item.payloads[:good], item.hashes[:good])
        if not fine or heads.failed:
            break
    return _report(check, heads)


def verify_events(
    chapter_id: str,
    events: Iterable[RecordedEvent],
    prev: bytes = GENESIS,
    start_rev: int = 1,
    *,
    keys: KeyHistory | None = None,
) -> VerifyReport:
    """Verify a copy held elsewhere: `events` must be the chapter's events from `start_rev` on,
    in order; `prev` is h[start_rev - 1] (GENESIS when the copy starts at rev 1). Signed heads
    are checked only in a copy from rev 1 (they need every hash before them)."""
    page = list(events)
    check = ChainCheck(chapter_id, prev=prev, start_rev=start_rev)
    check.feed_events(
        page,
        gap=lambda expected, found: f"the copy holds rev {found} where rev {expected} belongs",
    )
    if start_rev != 1:
        return _report(check)
    heads = HeadCheck(chapter_id, keys)
    good = page[: check.verified]
    heads.feed([e.payload for e in good], [e.hash for e in good])
    return _report(check, heads)


async def book_key_history(logs: Logs, book: str) -> KeyHistory | None:
    """The book's key history folded from its log as stored; None when this server has no log
    of that book (another server's, or a book never written)."""
    history = KeyHistory(book)
    try:
        async for recorded in logs.book(book).read():
            history.apply(recorded.envelope)
    except ChapterNotFound:
        return None
    return history if history.rev else None
