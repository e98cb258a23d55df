"""The proxied relay: each shared chapter read once per tick, compacted, served to its guests.

One `Relay` per gateway process. A chapter's loop starts with the first feed request of one of
its proxied guests and stops when none has asked for `IDLE_TICKS` ticks. Each tick reads what
the owner's log gained since the last one (one read, however many guests poll) and moves the
chapter's watermark (rev, chain head) there. A guest gets data up to the last tick's watermark
and nothing newer, so polling faster than the tick buys nothing; a guest starting from nothing
(`after=0`) gets a snapshot at once, read now if no tick has run yet.

The tick follows the chapter's book's plan (engine/shares.py `interval_for`: 60 s paid, 600 s
free), or `[sharing] tick_s` for every chapter (tests), never below `MIN_TICK_S`. Batches are
compacted (projections/compaction.py) and cached per (after, scope) until the next tick: most
guests of a chapter ask from the same watermark, so most requests cost a dictionary lookup.

The relay also keeps, per chapter, the blobs that in-scope events reference (built as it reads),
so that `GET /v1/shares/blobs/{hash}` serves a guest those and nothing else.

The relay never decides who may read: every request resolves its token first
(`Shares.resolve`), so a revoked share is refused at once whatever the relay holds.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable

import msgspec
from prometheus_client import CollectorRegistry, Counter

from engine.blobs import BlobStore
from engine.books import Books
from engine.log import Head, Logs
from engine.rules import Conflict, Invalid
from engine.shares import ShareAccess, interval_for
from events import ChapterEvent, ContentErased, Envelope, Event, SourceAdded
from events.blobs import blobs_of, blobs_of_all
from events.scopes import SOURCE_EVENTS, THREAD_EVENTS
from projections.compaction import compact, texts_needed

__all__ = ["IDLE_TICKS", "MIN_TICK_S", "FeedBatch", "NotProxied", "Relay", "Watermark"]

log = logging.getLogger("ragstack.relay")

MIN_TICK_S = 1.0
"""No tick is shorter, whatever the settings say."""
IDLE_TICKS = 3
"""A chapter's loop stops after this many ticks without a feed request."""

_SOURCE_KINDS = ("sources", "notes")
_BLOB_KINDS = (*_SOURCE_KINDS, "threads")
"""The scopes whose events name blobs a guest may fetch (threads: their personal blobs)."""
_EVERY_KIND = "*"
"""The kind of an event every guest gets whatever its scope (an erasure)."""


class NotProxied(Conflict):
    """A feed asked with the token of a copy or direct share (HTTP 409)."""

    code = "not_proxied"


class Watermark(msgspec.Struct, frozen=True, kw_only=True):
    """Where a tick left a chapter: what its guests may have."""

    rev: int
    """The owner's rev read up to."""
    head: str
    """Hex chain hash of the owner's log at `rev`."""
    at: int
    """Unix ms of the tick."""


class FeedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """One answer of the feed: the compacted events after `after` up to the watermark."""

    share: str
    chapter: str
    after: int
    """The owner's rev the guest already holds."""
    rev: int
    """The watermark: the owner's rev the guest holds after applying `events`."""
    head: str
    """Hex chain hash of the owner's log at `rev`."""
    snapshot: bool
    """Whether `events` build the chapter from nothing (`after` was 0)."""
    next_tick_at: int
    """Unix ms of the next tick: asking before then gives nothing new."""
    events: list[ChapterEvent]
    """Compacted bodies, not the owner's events: apply them in order."""
    blobs: list[str]
    """The blobs `events` refer to, each once (fetch them at /v1/shares/blobs/{hash})."""


class _Compacted(msgspec.Struct, frozen=True):
    rev: int
    events: list[Event]
    blobs: list[str]


class _Chapter:
    """What the relay holds for one chapter: its in-scope events, its blobs, its watermark."""

    def __init__(self, chapter: str, book: str) -> None:
        self.chapter = chapter
        self.book = book
        self.envelopes: list[Envelope] = []
        """In-scope events (sources, notes, threads) up to `read_rev`, in log order."""
        self.revs: list[int] = []
        self.kinds: list[str] = []
        """Each envelope's scope: sources, notes or threads."""
        self.read_rev = 0
        self.kind_of: dict[str, str] = {}
        """Source id -> sources or notes (notes are sources whose origin is `note`)."""
        self.first_added: dict[str, int] = {}
        self.blobs: dict[str, set[str]] = {kind: set() for kind in _BLOB_KINDS}
        self.watermark: Watermark | None = None
        self.interval_s = MIN_TICK_S
        self.batches: dict[tuple[int, tuple[str, ...]], _Compacted] = {}
        self.reads = 0
        """Tick reads of the owner's log (one per tick, however many guests)."""
        self.catchup_reads = 0
        """Reads a blob request made because the log moved past what was read."""
        self.asked_at = time.monotonic()
        self.task: asyncio.Task[None] | None = None
        self.read_lock = asyncio.Lock()
        self.tick_lock = asyncio.Lock()
        self.compact_lock = asyncio.Lock()

    @property
    def next_tick_at(self) -> int:
        at = self.watermark.at if self.watermark else int(time.time() * 1000)
        return at + int(self.interval_s * 1000)

    def index(self, e: Envelope) -> None:
        body = e.body
        if isinstance(body, SOURCE_EVENTS):
            source: str = body.source  # type: ignore[attr-defined]
            if isinstance(body, SourceAdded):
                self.kind_of[source] = "notes" if body.origin == "note" else "sources"
                self.first_added.setdefault(source, e.rev)
            kind = self.kind_of.get(source, "sources")
            self.blobs[kind].update(blobs_of(body))
        elif isinstance(body, THREAD_EVENTS):
            kind = "threads"
            self.blobs[kind].update(blobs_of(body))  # their personal blobs
        elif isinstance(body, ContentErased):
            kind = _EVERY_KIND  # every guest must forget what it copied
        else:
            return
        self.envelopes.append(e)
        self.revs.append(e.rev)
        self.kinds.append(kind)


class Relay:
    """The proxied shares' relay of this process (see the module's docstring)."""

    def __init__(
        self,
        logs: Logs,
        books: Books,
        blobs: BlobStore,
        *,
        tick_s: float | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.logs = logs
        self.books = books
        self.blob_store = blobs
        self.tick_s = None if tick_s is None else max(MIN_TICK_S, tick_s)
        self._clock = clock
        self._chapters: dict[str, _Chapter] = {}
        self._reads = Counter(
            "ragstack_share_relay_reads",
            "Reads of owners' chapter logs by the proxied relay (one per chapter per tick).",
            registry=registry,
        )
        self._closed = False

    # -- what tests and metrics read ------------------------------------------------------------

    def reads(self, chapter: str) -> int:
        """How many ticks have read `chapter`'s log."""
        held = self._chapters.get(chapter)
        return held.reads if held else 0

    def running(self, chapter: str) -> bool:
        """Whether `chapter`'s tick loop runs (guests asked lately)."""
        held = self._chapters.get(chapter)
        return held is not None and held.task is not None and not held.task.done()

    # -- the feed ------------------------------------------------------------------------------

    async def feed(self, access: ShareAccess, after: int) -> FeedBatch:
        """The compacted events after `after` up to the chapter's watermark, for a resolved
        proxied share; a snapshot when `after` is 0."""
        if access.mode != "proxied":
            raise NotProxied(
                f"this is a {access.mode} share: the feed serves proxied shares only "
                "(a copy is imported once; a direct share is read over NATS)"
            )
        if after < 0:
            raise Invalid("after is a rev: 0 or more")
        held = self._chapter(access)
        held.asked_at = time.monotonic()
        if held.watermark is None:
            async with held.tick_lock:
                if held.watermark is None:  # nobody ticked while we waited: read now
                    await self._tick(held)
        if held.task is None or held.task.done():
            held.task = asyncio.create_task(self._run(held), name=f"relay {held.chapter}")
        mark = held.watermark
        assert mark is not None
        if after > mark.rev:
            raise Invalid(f"after={after} is past the share's watermark (rev {mark.rev})")
        kinds = tuple(k for k in ("sources", "notes", "threads") if k in access.scope)
        batch = await self._compacted(held, after, kinds, mark)
        return FeedBatch(
            share=access.id,
            chapter=access.chapter,
            after=after,
            rev=mark.rev,
            head=mark.head,
            snapshot=after == 0,
            next_tick_at=held.next_tick_at,
            events=batch.events,
            blobs=batch.blobs,
        )

    async def tick(self, access: ShareAccess) -> Watermark:
        """Read the share's chapter now and move its watermark there, as its loop does each
        tick (benchmarks; an operator's "refresh now")."""
        held = self._chapter(access)
        async with held.tick_lock:
            await self._tick(held)
        assert held.watermark is not None
        return held.watermark

    async def blob_allowed(self, access: ShareAccess, hash: str) -> bool:
        """Whether an in-scope event of the share's chapter (up to its head) refers to `hash`."""
        held = self._chapter(access)
        kinds = [k for k in _BLOB_KINDS if k in access.scope]
        if any(hash in held.blobs[k] for k in kinds):
            return True
        head = await self.logs.chapter(held.chapter).head()
        if head.rev > held.read_rev:
            held.catchup_reads += 1
            await self._read(held)
        return any(hash in held.blobs[k] for k in kinds)

    # -- the loop ------------------------------------------------------------------------------

    def _chapter(self, access: ShareAccess) -> _Chapter:
        held = self._chapters.get(access.chapter)
        if held is None:
            held = self._chapters[access.chapter] = _Chapter(access.chapter, access.book)
        return held

    async def _interval(self, held: _Chapter) -> float:
        if self.tick_s is not None:
            return self.tick_s
        state = await self.books.state(held.book)
        return max(MIN_TICK_S, float(interval_for(state.plan)))

    async def _read(self, held: _Chapter) -> Head:
        """Index what the owner's log gained since the last read; the head read up to."""
        async with held.read_lock:
            chapter_log = self.logs.chapter(held.chapter)
            head = await chapter_log.head()
            async for recorded in chapter_log.read(after=held.read_rev, until=head.rev):
                held.index(recorded.envelope)
            held.read_rev = max(held.read_rev, head.rev)
            return head

    async def _tick(self, held: _Chapter) -> None:
        held.interval_s = await self._interval(held)
        head = await self._read(held)
        held.reads += 1
        self._reads.inc()
        held.watermark = Watermark(rev=head.rev, head=head.hex, at=int(self._clock() * 1000))
        held.batches.clear()

    async def _run(self, held: _Chapter) -> None:
        while not self._closed:
            assert held.watermark is not None
            wait_s = held.next_tick_at / 1000 - self._clock()
            await asyncio.sleep(max(0.0, wait_s))
            if time.monotonic() - held.asked_at > IDLE_TICKS * held.interval_s:
                # Nobody asks: stop reading; the next request reads afresh.
                held.watermark = None
                held.batches.clear()
                return
            try:
                async with held.tick_lock:
                    await self._tick(held)
            except Exception:
                # The owner's NATS hiccuped: guests keep the last watermark; try next tick.
                log.warning("relay tick of chapter %s failed", held.chapter, exc_info=True)
                held.watermark = msgspec.structs.replace(
                    held.watermark, at=int(self._clock() * 1000)
                )

    # -- compaction ----------------------------------------------------------------------------

    async def _compacted(
        self, held: _Chapter, after: int, kinds: tuple[str, ...], mark: Watermark
    ) -> _Compacted:
        key = (after, kinds)
        cached = held.batches.get(key)
        if cached is not None and cached.rev == mark.rev:
            return cached
        async with held.compact_lock:
            cached = held.batches.get(key)
            if cached is not None and cached.rev == mark.rev:
                return cached
            lo = bisect.bisect_right(held.revs, after)
            hi = bisect.bisect_right(held.revs, mark.rev)
            window = [
                e
                for e, kind in zip(held.envelopes[lo:hi], held.kinds[lo:hi], strict=True)
                if kind in kinds or kind == _EVERY_KIND
            ]
            texts = {h: (await self.blob_store.get(h)).decode() for h in texts_needed(window)}
            first_added = held.first_added

            def existed(source: str) -> bool:
                return first_added.get(source, mark.rev + 1) <= after

            events = await asyncio.to_thread(
                compact,
                window,
                texts=texts.__getitem__,
                threads="threads" in kinds,
                existed=existed,
            )
            blobs = blobs_of_all(events)
            batch = _Compacted(mark.rev, events, blobs)
            if held.watermark is mark:
                held.batches[key] = batch
            return batch

    async def close(self) -> None:
        """Stop every chapter's loop."""
        self._closed = True
        tasks = [held.task for held in self._chapters.values() if held.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
