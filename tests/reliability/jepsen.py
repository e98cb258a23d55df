"""A small Jepsen-style harness for the logs: writers append unique, increasing counters to chapters
while a test injects faults; the checker then classifies every acknowledged write.

Each writer has its own NATS connection and its own `Log` objects (so writers race each other
through `Nats-Expected-Last-Sequence`, as separate processes would) and appends
`ChapterRenamed(title="w<writer>:<counter>")`, its counter going up by one per attempt. An append
that returns is *acknowledged* at a rev; one that raises is *indeterminate* (it may or may not
be stored; the writer moves on to its next counter and never re-sends a value).

The checker, given what a log holds (read through the cluster, or from one node's store),
classifies each acknowledged write as present (once, at the rev its ack named), lost, duplicated
(stored more than once) or moved (stored elsewhere than its ack said), flags writes stored out of
order (a writer's counters must rise along each chapter), values nobody wrote, and indeterminate
writes stored twice; and checks the hash chain, naming the first bad or missing rev.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import msgspec

from engine.errors import ChainBroken, EngineError
from engine.log import Log
from engine.nats import NATS
from events import ChapterRenamed, decode
from events.envelope import DecodeError
from rust_core import GENESIS, verify_chain


@dataclass
class History:
    """What the writers were told."""

    acked: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    """(chapter, value) -> (value, rev) for every acknowledged append."""
    indeterminate: set[tuple[str, str]] = field(default_factory=set)
    """(chapter, value) of appends that raised."""
    errors: Counter[str] = field(default_factory=Counter)
    """The errors indeterminate appends raised, by class name."""
    last_ack_at: float = 0.0
    """time.monotonic() of the latest acknowledgement."""

    @property
    def count(self) -> int:
        return len(self.acked)


async def run_writers(
    connect: Callable[[int], Awaitable[NATS]],
    chapters: list[str],
    *,
    writers: int,
    stop: asyncio.Event,
    replicas: int = 1,
    history: History | None = None,
    unavailable_after: float = 15.0,
) -> History:
    """Run `writers` writers over `chapters` until `stop` is set; what they were told."""
    history = history or History()

    async def writer(w: int) -> None:
        nc = await connect(w)
        logs = {
            c: Log(nc, c, replicas=replicas, unavailable_after=unavailable_after, publish_timeout=2)
            for c in chapters
        }
        counter = 0
        try:
            while not stop.is_set():
                chapter = chapters[(counter + w) % len(chapters)]
                value = f"w{w}:{counter}"
                counter += 1
                try:
                    stored = await logs[chapter].append(ChapterRenamed(title=value), actor=f"w{w}")
                except (EngineError, TimeoutError) as exc:
                    history.indeterminate.add((chapter, value))
                    history.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                    await asyncio.sleep(0.05)
                    continue
                history.acked[(chapter, value)] = (value, stored.rev)
                history.last_ack_at = time.monotonic()
        finally:
            for log in logs.values():
                await log.close()
            with contextlib.suppress(Exception):
                await nc.close()

    await asyncio.gather(*(writer(w) for w in range(writers)))
    return history


class Stored(msgspec.Struct, frozen=True):
    """One log as some reader saw it: rev -> (payload, stored hash), and where the read stopped
    at a rev it could not verify (`ChainBroken` from the engine's own read), if it did."""

    messages: dict[int, tuple[bytes, bytes]]
    broken_at: int | None = None


@dataclass
class Verdict:
    """The checker's classification of one copy of the logs (the cluster's, or one node's)."""

    acked: int = 0
    present: int = 0
    lost: list[tuple[str, str]] = field(default_factory=list)
    duplicated: list[tuple[str, str]] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    out_of_order: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    indeterminate_stored: int = 0
    first_bad_rev: dict[str, int] = field(default_factory=dict)
    """chapter -> the first rev whose payload, hash or presence is wrong (chain verification)."""
    heads: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.moved
            or self.out_of_order
            or self.unknown
            or self.first_bad_rev
        )

    def summary(self) -> dict[str, object]:
        return {
            "acked": self.acked,
            "present": self.present,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "moved": len(self.moved),
            "out_of_order": len(self.out_of_order),
            "unknown": len(self.unknown),
            "indeterminate_stored": self.indeterminate_stored,
            "first_bad_rev": dict(self.first_bad_rev),
        }


def first_bad_rev(messages: Mapping[int, tuple[bytes, bytes]]) -> int | None:
    """The first rev at which the chain from genesis breaks: missing, or a hash that does not
    match the payloads (the same check as `engine.verify`, over whatever copy we hold)."""
    prev, rev = GENESIS, 1
    top = max(messages, default=0)
    while rev <= top:
        if rev not in messages:
            return rev
        # Verify the contiguous run from `rev` in one call.
        end = rev
        while end + 1 in messages:
            end += 1
        payloads = [messages[r][0] for r in range(rev, end + 1)]
        hashes = [messages[r][1] for r in range(rev, end + 1)]
        if any(len(h) != 32 for h in hashes):
            return rev + next(i for i, h in enumerate(hashes) if len(h) != 32)
        bad = verify_chain(prev, payloads, hashes)
        if bad is not None:
            return rev + bad
        prev, rev = hashes[-1], end + 1
    return None


def check(history: History, stored: Mapping[str, Stored]) -> Verdict:
    """Classify every acknowledged write against `stored` (chapter -> its log as read)."""
    verdict = Verdict(acked=history.count)
    for chapter, log in stored.items():
        verdict.heads[chapter] = max(log.messages, default=0)
        bad = first_bad_rev(log.messages)
        if log.broken_at is not None:
            bad = min(bad or log.broken_at, log.broken_at)
        if bad is not None:
            verdict.first_bad_rev[chapter] = bad
        where: dict[str, list[int]] = {}
        last_counter: dict[str, int] = {}
        for rev in sorted(log.messages):
            try:
                body = decode(log.messages[rev][0]).body
            except (msgspec.DecodeError, msgspec.ValidationError, DecodeError):
                continue  # a corrupt payload: the chain check names it
            if not isinstance(body, ChapterRenamed):
                continue
            value = body.title
            where.setdefault(value, []).append(rev)
            writer, _, n = value.partition(":")
            if int(n) < last_counter.get(writer, -1):
                verdict.out_of_order.append((chapter, value))
            last_counter[writer] = int(n)
            if (chapter, value) not in history.acked and (
                chapter,
                value,
            ) not in history.indeterminate:
                verdict.unknown.append((chapter, value))
        for value, revs in where.items():
            if (chapter, value) in history.indeterminate and len(revs) > 1:
                verdict.indeterminate_stored += 1
                verdict.duplicated.append((chapter, value))
            elif (chapter, value) in history.indeterminate:
                verdict.indeterminate_stored += 1
        for (acked_chapter, value), (_, rev) in history.acked.items():
            if acked_chapter != chapter:
                continue
            revs = where.get(value, [])
            if not revs:
                verdict.lost.append((chapter, value))
            elif len(revs) > 1:
                verdict.duplicated.append((chapter, value))
            elif revs[0] != rev:
                verdict.moved.append((chapter, value))
            else:
                verdict.present += 1
    return verdict


async def read_through(nc: NATS, chapters: list[str]) -> dict[str, Stored]:
    """Each chapter's log as the server (or cluster) serves it, unverified (the checker
    verifies), through the head as it is now."""
    stored: dict[str, Stored] = {}
    for chapter in chapters:
        log = Log(nc, chapter, unavailable_after=60)
        messages: dict[int, tuple[bytes, bytes]] = {}
        broken_at = None
        try:
            async for batch in log.read_batches(verify=False):
                for event in batch:
                    messages[event.rev] = (event.payload, event.hash)
        except ChainBroken as exc:  # a hole in what the server serves: detected, named
            broken_at = exc.rev
        await log.close()
        stored[chapter] = Stored(messages=messages, broken_at=broken_at)
    return stored
