"""Verification: recompute a log's hash chain from the stored payloads and name the first bad rev.

The rules (hash, rev, chapter at every revision) are `events.chain.ChainCheck`'s, shared with the
client; this module feeds it a log as stored, in one streaming pass, or a copy held elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from engine.jetstream.feed import Hole
from engine.log import GENESIS, Log
from events import RecordedEvent
from events.chain import ChainCheck

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


def _report(check: ChainCheck) -> VerifyReport:
    return VerifyReport(
        ok=not check.failed,
        events=check.verified,
        head_rev=check.next_rev - 1,
        head_hash=check.prev,
        first_bad_rev=check.bad_rev,
        reason=check.reason,
    )


async def verify_log(log: Log, *, chapter: str | None = None) -> VerifyReport:
    """Verify a whole log as stored. `chapter` is the id its envelopes must name (default: the
    log's own id; give the original's id to verify a copy kept in another stream)."""
    check = ChainCheck(chapter or log.id, prev=GENESIS, start_rev=1)
    async for item in log.stored_batches():
        if isinstance(item, Hole):
            check.fail(item.expected, f"rev {item.expected} is missing from the stream")
            break
        if item.first != check.next_rev:
            check.fail(check.next_rev, f"rev {check.next_rev} is missing from the stream")
            break
        if not check.feed(item.payloads, item.hashes):
            break
    return _report(check)


def verify_events(
    chapter_id: str,
    events: Iterable[RecordedEvent],
    prev: bytes = GENESIS,
    start_rev: int = 1,
) -> VerifyReport:
    """Verify a copy held elsewhere: `events` must be the chapter's events from `start_rev` on,
    in order; `prev` is h[start_rev - 1] (GENESIS when the copy starts at rev 1)."""
    check = ChainCheck(chapter_id, prev=prev, start_rev=start_rev)
    check.feed_events(
        events,
        gap=lambda expected, found: f"the copy holds rev {found} where rev {expected} belongs",
    )
    return _report(check)
