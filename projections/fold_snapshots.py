"""Fold checkpoints: the chapter at rev N without folding its whole prefix each time.

"The chapter at rev N" is the fold of its first N events (projections/audit.py). Folding a
100,000-event chapter from rev 1 takes a second; most of it is reading and decoding the prefix.
`FoldSnapshots` keeps, per chapter, the fold at every `every`-th rev it has passed, and answers
rev N from the nearest checkpoint at or before N plus a fold of the events after it (fewer than
`every`). So the answer is the same fold of the same verified events, only resumed: the tail is
read with the chain checked from the checkpoint's own hash, which must still be the log's h[rev].

Checkpoints live in this process's memory, built by the first question about a chapter (which
folds as far as it asks, as before) and extended by later ones. That is a decision, measured:

- A checkpoint is a shallow copy of the fold's four record maps. Records are frozen and the rules
  replace rather than change them, so checkpoints share every unchanged record with each other and
  with the fold: one costs a dict slot per record, and making one takes milliseconds.
- A persisted snapshot would have to be decoded into those records again: for the 90,000 sources
  of the benchmark's chapter that alone costs about as much as the reading it saves, and rows a
  process can edit are what the audit views promise not to answer from.

Memory is bounded by `max_records` (dict slots over every checkpoint kept): the chapters asked
about least recently are forgotten first, and a single chapter too big for the budget keeps every
other checkpoint until it fits.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import OrderedDict
from dataclasses import dataclass, field

from engine.log import Log
from projections.audit import (
    AuditRangeError,
    ChapterFold,
    ChapterSnapshot,
    read_envelopes,
    require_events,
)

__all__ = ["CHECKPOINT_EVERY", "MAX_RECORDS", "FoldSnapshots"]

CHECKPOINT_EVERY = 4096
"""Revs between checkpoints: the most a question folds past one (about 50 ms of reading and
folding on this kind of machine)."""
MAX_RECORDS = 2_000_000
"""Record slots kept over all checkpoints (a slot is about 50 bytes: some 100 MB at most)."""


@dataclass
class _Chapter:
    revs: list[int] = field(default_factory=list)
    """The checkpoints' revs, ascending (parallel to `folds`)."""
    folds: list[ChapterFold] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.folds)

    def nearest(self, rev: int) -> ChapterFold | None:
        i = bisect.bisect_right(self.revs, rev)
        return self.folds[i - 1] if i else None

    def keep(self, fold: ChapterFold) -> None:
        i = bisect.bisect_left(self.revs, fold.rev)
        if i < len(self.revs) and self.revs[i] == fold.rev:
            return
        self.revs.insert(i, fold.rev)
        self.folds.insert(i, fold.copy())

    def thin(self) -> None:
        """Keep every other checkpoint (the spacing doubles)."""
        self.revs, self.folds = self.revs[1::2], self.folds[1::2]


class FoldSnapshots:
    """The chapter at any rev, from in-memory fold checkpoints (see the module docstring)."""

    def __init__(self, *, every: int = CHECKPOINT_EVERY, max_records: int = MAX_RECORDS) -> None:
        if every < 1 or max_records < 0:
            raise ValueError("checkpoints need every >= 1 and max_records >= 0")
        self.every = every
        self.max_records = max_records
        self._chapters: OrderedDict[str, _Chapter] = OrderedDict()

    def checkpoints(self, chapter: str) -> list[int]:
        """The revs of the chapter's checkpoints kept now (for tests and metrics)."""
        kept = self._chapters.get(chapter)
        return list(kept.revs) if kept is not None else []

    def forget(self, chapter: str) -> None:
        """Drop the chapter's checkpoints."""
        self._chapters.pop(chapter, None)

    async def at(self, log: Log, rev: int) -> ChapterSnapshot:
        """The chapter as it was at `rev` (0: before its first event): `chapter_at_rev`'s answer."""
        if rev < 0:
            raise AuditRangeError(f"revisions start at 1 (0 for the empty chapter), not {rev}")
        await require_events(log, rev)
        kept = self._chapters.setdefault(log.id, _Chapter())
        self._chapters.move_to_end(log.id)
        async with kept.lock:
            state = await self._start(log, kept, rev)
            async for event, e in read_envelopes(log, state.rev, rev):
                state.apply(e, event.hash)
                if state.rev % self.every == 0:
                    kept.keep(state)
            self._fit(log.id)
        return state.snapshot()

    async def _start(self, log: Log, kept: _Chapter, rev: int) -> ChapterFold:
        """A fold to go on from: a copy of the nearest checkpoint whose hash is still the log's
        (a log deleted and written again drops them all), or an empty one."""
        base = kept.nearest(rev)
        if base is not None:
            stored = await log.get(base.rev)
            if stored is not None and stored.hash == base.hash:
                return base.copy()
            kept.revs, kept.folds = [], []
        return ChapterFold(log.id)

    def _fit(self, current: str) -> None:
        total = sum(c.records for c in self._chapters.values())
        while total > self.max_records and len(self._chapters) > 1:
            oldest = next(iter(self._chapters))
            if oldest == current:
                self._chapters.move_to_end(current)
                continue
            total -= self._chapters.pop(oldest).records
        kept = self._chapters.get(current)
        while kept is not None and kept.folds and kept.records > self.max_records:
            kept.thin()
