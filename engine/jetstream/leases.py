"""Chapter leases in a NATS KV bucket: which worker folds which chapter (issue 12, part 2; the
runner folds only the chapters its keeper holds, projections/runner.py).

One bucket, `RS_LEASES`, whose entries expire `ttl` seconds after their last write (the bucket's
max age). A worker announces itself under `w.<worker>` and holds a chapter under `ch.<chapter>`
with its id as the value. Every write is revision-checked:

- acquire: `create`, which succeeds only if no live entry exists (none yet, or one expired:
  a dead worker's chapters fall free `ttl` seconds after its last renewal);
- renew: `update` with the revision we hold, which fails once anyone else wrote the key (so a
  worker that stalled past `ttl` learns it lost the lease instead of folding on);
- release: `delete` with the revision we hold.

The revision a worker holds is its fencing token: a write it makes on the strength of a lease
(a checkpoint) can carry it, and a store can refuse an older one.

`LeaseKeeper` runs one worker's loop: renew what it holds, then claim free chapters up to its
fair share (all chapters / live workers, rounded up), giving back any above it so that a new
worker gets work. Two keepers over the same chapters never hold the same chapter at once, and a
dead one's chapters move to the others within `ttl` plus one round.

`LeaseKeeper.holds(chapter)` is what a worker asks before each write it makes on a chapter's
behalf: held, AND renewed recently enough that the entry cannot have expired on the server yet
(the renewal's send time plus `ttl` minus a margin). A worker that stalled (SIGSTOP, a long GC,
NATS away) therefore stops writing on its own before another can have taken the chapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import nats.js.errors
from nats.js.kv import KeyValue

from engine.jetstream.buckets import KV_LOST, open_bucket
from engine.nats import NATS

__all__ = ["LEASE_BUCKET", "ChapterLeases", "Lease", "LeaseKeeper"]

T = TypeVar("T")

_CONCURRENT = 64
"""Lease requests in flight at once: a worker holding 500 chapters renews them all within a
round's budget even on a loaded machine, without flooding the server."""
_MARGIN = 0.25
"""The fraction of `ttl` a holder gives up early (`holds`): clocks and the server's expiry
sweep are not exact, so a lease is trusted for 75% of its life only."""

LEASE_BUCKET = "RS_LEASES"
"""The KV bucket of worker and chapter leases."""

log = logging.getLogger(__name__)

_CHAPTER = "ch."
_WORKER = "w."


@dataclass(frozen=True)
class Lease:
    """A chapter held by this worker, at the KV revision of our last write (the fencing token)."""

    chapter: str
    revision: int


class ChapterLeases:
    """The lease bucket, seen by one worker (`worker`: an id unique among live workers)."""

    def __init__(self, kv: KeyValue, worker: str, ttl: float) -> None:
        self.kv = kv
        self.worker = worker
        self.ttl = ttl

    @classmethod
    async def open(
        cls, nc: NATS, worker: str, *, ttl: float = 6.0, replicas: int = 1
    ) -> ChapterLeases:
        """The bucket (created if missing, `ttl` its entries' lifetime) for `worker`."""
        if not worker or any(c in worker for c in " .*>"):
            raise ValueError(f"invalid worker id {worker!r}: no spaces, dots or wildcards")
        kv = await open_bucket(nc, LEASE_BUCKET, replicas=replicas, ttl=ttl)
        return cls(kv, worker, ttl)

    async def acquire(self, chapter: str) -> Lease | None:
        """The chapter's lease if nobody holds it; None if somebody does."""
        try:
            revision = await self.kv.create(_CHAPTER + chapter, self.worker.encode())
        except KV_LOST:
            # Held by someone; or nats-py's create raced an expiry or another's claim while it
            # looked past a tombstone (it then raises KeyNotFound): either way, not ours now.
            return None
        return Lease(chapter, revision)

    async def renew(self, lease: Lease) -> Lease | None:
        """The lease renewed for another `ttl`; None if it was lost (expired, taken)."""
        try:
            revision = await self.kv.update(
                _CHAPTER + lease.chapter, self.worker.encode(), last=lease.revision
            )
        except KV_LOST:
            return None
        return Lease(lease.chapter, revision)

    async def release(self, lease: Lease) -> None:
        """Give the chapter up now (nothing happens if it was lost already)."""
        with contextlib.suppress(*KV_LOST):
            await self.kv.delete(_CHAPTER + lease.chapter, last=lease.revision)

    async def holder(self, chapter: str) -> str | None:
        """Which worker holds `chapter` now, if any."""
        try:
            entry = await self.kv.get(_CHAPTER + chapter)
        except nats.js.errors.KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None

    async def announce(self) -> None:
        """Say this worker is alive (for `ttl` seconds)."""
        await self.kv.put(_WORKER + self.worker, b"")

    async def retire(self) -> None:
        """Say this worker is gone (a clean stop): the others' fair shares grow at once."""
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            await self.kv.delete(_WORKER + self.worker)

    async def live_workers(self) -> int:
        """How many workers announced themselves within the last `ttl` seconds."""
        try:
            keys = await self.kv.keys()
        except nats.js.errors.NoKeysError:
            return 0
        return sum(1 for key in keys if key.startswith(_WORKER))


class LeaseKeeper:
    """One worker's share of `chapters()`: renewed, topped up and handed back, every `every` s.

    `held` is what it holds after the last round. `on_change(gained, lost)` hears the chapters
    it gained and lost in a round (start or stop folding them)."""

    def __init__(
        self,
        leases: ChapterLeases,
        chapters: Callable[[], Iterable[str]],
        *,
        every: float | None = None,
        on_change: Callable[[set[str], set[str]], None] | None = None,
    ) -> None:
        self.leases = leases
        self.chapters = chapters
        self.every = every if every is not None else leases.ttl / 3
        self.on_change = on_change
        self.held: dict[str, Lease] = {}
        self._renewed_at: dict[str, float] = {}
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Run the next round now rather than after `every` (new chapters to claim)."""
        self._woken.set()

    def holds(self, chapter: str) -> bool:
        """Whether this worker may write for `chapter` now: held, and renewed recently enough
        that its entry cannot have expired (see the module docstring)."""
        sent = self._renewed_at.get(chapter)
        return (
            chapter in self.held
            and sent is not None
            and time.monotonic() - sent < self.leases.ttl * (1 - _MARGIN)
        )

    async def round(self) -> None:
        """Renew, hand back above the fair share, claim free chapters up to it."""
        before = set(self.held)
        await self.leases.announce()
        sent = time.monotonic()  # before the requests: the entries live at least ttl from here
        renewed = await _bounded([self.leases.renew(lease) for lease in self.held.values()])
        for (chapter, _), lease in zip(list(self.held.items()), renewed, strict=True):
            if lease is None:
                del self.held[chapter]
                self._renewed_at.pop(chapter, None)
            else:
                self.held[chapter] = lease
                self._renewed_at[chapter] = sent
        wanted = list(self.chapters())
        share = math.ceil(len(wanted) / max(1, await self.leases.live_workers()))
        giving = {c: self.held.pop(c) for c in sorted(self.held)[share:]}  # above our share
        if giving:
            # Stop folding them first, then let them go: another worker may take each the
            # moment its release lands.
            for chapter in giving:
                self._renewed_at.pop(chapter, None)
            before -= set(giving)
            if self.on_change is not None:
                self.on_change(set(), set(giving))
            await asyncio.sleep(0)
            await _bounded([self.leases.release(lease) for lease in giving.values()])
        free = [c for c in wanted if c not in self.held]
        while free and len(self.held) < share:
            # Claim in slices of what is still missing: concurrent, never above the share.
            tried, free = free[: share - len(self.held)], free[share - len(self.held) :]
            sent = time.monotonic()
            got = await _bounded([self.leases.acquire(c) for c in tried])
            for chapter, lease in zip(tried, got, strict=True):
                if lease is not None:
                    self.held[chapter] = lease
                    self._renewed_at[chapter] = sent
        after = set(self.held)
        if self.on_change is not None and after != before:
            self.on_change(after - before, before - after)

    async def run(self) -> None:
        """Rounds until cancelled; on cancellation the leases are released (a clean stop)."""
        try:
            while True:
                try:
                    await self.round()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # NATS away, or an answer we did not expect: the keeper must outlive it (a
                    # dead keeper would hold nothing and take nothing over). What we hold
                    # expires on its own if this goes on past ttl.
                    log.warning("lease round failed: %r", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self.every)
                self._woken.clear()
        finally:
            # Best effort: NATS may be gone too, and then the leases expire on their own.
            with contextlib.suppress(Exception):
                for lease in list(self.held.values()):
                    await self.leases.release(lease)
                await self.leases.retire()
            self.held.clear()
            self._renewed_at.clear()


async def _bounded(calls: list[Awaitable[T]]) -> list[T]:
    """Await `calls`, at most `_CONCURRENT` at a time, results in order."""
    slots = asyncio.Semaphore(_CONCURRENT)

    async def one(call: Awaitable[T]) -> T:
        async with slots:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))
