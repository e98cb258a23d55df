"""The projection runner: feeds each projection a chapter's events from its checkpoint, then the tail.

One task per chapter reads the log once (from the lowest checkpoint among the projections) and
hands each projection the events past its own checkpoint, in batches. When the chapter's queue
runs dry and the projections have folded the log up to its head, they get an `idle` call: that is
where ingest does its work, so that a rebuild folds history without redoing it, and a restart
never redoes work whose result is already in the log but not yet folded. Any failure (NATS restarting, a store error) restarts the
chapter's loop from the stored checkpoints after a pause: nothing is skipped, and nothing is
applied twice because each projection's checkpoint moves with its writes.

Several workers share the chapters through leases (engine/jetstream/leases.py; issue 12): given
a `ChapterLeases`, the runner still discovers every chapter but folds only those its
`LeaseKeeper` holds, starting a chapter's loop when the lease is gained and cancelling it when
lost. Before every batch and every `idle` it checks the lease is still fresh (`holds`), so a
worker that stalled past the lease's life writes nothing more for that chapter; and a stored
checkpoint moves only from the rev the batch started after (projections/store.py), so even a
batch racing a new holder is rolled back rather than applied twice. Given a
`PublishedCheckpoints`, each committed batch's positions are published for gateways to settle on.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from engine.jetstream.checkpoints import PublishedCheckpoints
from engine.jetstream.leases import ChapterLeases, LeaseKeeper
from engine.log import Logs
from engine.personal import open_envelopes
from events import ChapterDeleted, ChapterRegistered, ContentErased, Envelope, RecordedEvent, decode

log = logging.getLogger(__name__)


class Projection(Protocol):
    """A read model folded from chapter logs."""

    name: str
    """Unique name; also the checkpoint key."""
    version: int
    """Bumping it rebuilds the read model from rev 1."""

    async def load_checkpoint(self, chapter: str) -> tuple[int, int] | None:
        """(rev, version) of the last applied batch, or None."""
        ...

    async def reset(self, chapter: str) -> None:
        """Forget the chapter's read model and checkpoint (a rebuild follows)."""
        ...

    async def apply(self, chapter: str, events: Sequence[Envelope]) -> None:
        """Fold `events` (consecutive revs) and store the last rev as the checkpoint."""
        ...

    async def idle(self, chapter: str) -> None:
        """The chapter has no more queued events: do deferred work (may append to the log)."""
        ...


class RecordedProjection(Projection, Protocol):
    """A projection that folds events as stored (chain hash, payload bytes), not envelopes.

    The runner calls `apply_recorded` instead of `apply` when a projection has it.
    """

    async def apply_recorded(self, chapter: str, events: Sequence[RecordedEvent]) -> None:
        """Fold `events` (consecutive revs) and store the last rev as the checkpoint."""
        ...


class EventSource(Protocol):
    """What the runner reads: chapter and book logs, and the list of books."""

    def follow_chapter(self, chapter: str, after: int) -> AsyncIterator[RecordedEvent]:
        """Events with rev > after, then the tail, forever."""
        ...

    def follow_book(self, book: str, after: int) -> AsyncIterator[RecordedEvent]:
        """Book events with rev > after, then the tail, forever."""
        ...

    async def books(self) -> list[str]:
        """Ids of every book that has a log."""
        ...


class HeadSource(EventSource, Protocol):
    """An event source that can also tell a chapter's head.

    With it, `idle` waits until a projection has folded everything in the log (required when a
    projection's idle appends to the log, as ingest does: otherwise it would redo work whose
    result was appended but not folded yet). A source without it gets `idle` whenever its queue
    runs dry.
    """

    async def head(self, chapter: str) -> int:
        """The chapter's last rev now."""
        ...


class _Stop:
    """Queue item that ends a feed, carrying the error that ended it, if any."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class LeaseNotHeld(Exception):
    """This worker does not (or no longer safely) hold the chapter's lease: it must not write."""


class Runner:
    """Drives projections over every chapter it is told about or discovers in the book logs
    (with `leases`: over those of them whose lease it holds)."""

    def __init__(
        self,
        source: EventSource,
        projections: Sequence[Projection],
        *,
        batch_size: int = 256,
        retry_delay: float = 1.0,
        discover_every: float = 2.0,
        leases: ChapterLeases | None = None,
        published: PublishedCheckpoints | None = None,
    ) -> None:
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique: {names}")
        self._source = source
        self._projections = list(projections)
        self._batch_size = batch_size
        self._retry_delay = retry_delay
        self._discover_every = discover_every
        self._chapters: dict[str, asyncio.Task[None]] = {}
        self._books: dict[str, asyncio.Task[None]] = {}
        self._positions: dict[str, dict[str, int]] = {}
        self._seen: dict[str, int] = {}
        self._errors: dict[str, str] = {}
        self._changed = asyncio.Condition()
        self._discovery: asyncio.Task[None] | None = None
        self._stopping = False
        self._known: set[str] = set()
        """Every chapter watched (registered, not deleted), folded here or not."""
        self._published = published
        self.keeper = (
            LeaseKeeper(leases, lambda: sorted(self._known), on_change=self._leases_changed)
            if leases is not None
            else None
        )
        self._keeping: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, discover: bool = True) -> None:
        """Start following; with `discover`, every book's chapters are found and followed."""
        self._stopping = False
        if discover and self._discovery is None:
            self._discovery = asyncio.create_task(self._discover(), name="runner-discovery")
        if self.keeper is not None and self._keeping is None:
            self._keeping = asyncio.create_task(self.keeper.run(), name="runner-leases")

    async def stop(self) -> None:
        """Cancel every task and wait for them.

        Some client calls (nats-py's request) turn a cancellation into another error, which a
        retry loop would survive; so the loops also check `_stopping`, and cancelling repeats
        until every task is done.
        """
        self._stopping = True
        tasks = [*self._chapters.values(), *self._books.values()]
        if self._discovery is not None:
            tasks.append(self._discovery)
        pending = {t for t in tasks if not t.done()}
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                log.debug("runner task %s ended with %r", task.get_name(), task.exception())
        self._chapters.clear()
        self._books.clear()
        self._discovery = None
        if self._keeping is not None:
            # Once, after the folds stopped: its cancellation releases every lease (a clean
            # stop hands the chapters over at once); NATS gone, they expire on their own.
            self._keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._keeping, 10)
            self._keeping = None

    async def __aenter__(self) -> "Runner":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def watch(self, chapter: str) -> None:
        """Follow `chapter` (idempotent); with leases, once its lease is held."""
        if self.keeper is None:
            self._known.add(chapter)
            self._start(chapter)
        elif chapter not in self._known:
            self._known.add(chapter)
            if chapter in self.keeper.held:
                self._start(chapter)
            else:
                self.keeper.wake()  # claim it now if it is free, not a round later

    def unwatch(self, chapter: str) -> None:
        """Stop following `chapter`; its read models stay as they are."""
        self._known.discard(chapter)
        self._cancel(chapter)

    def holds(self, chapter: str) -> bool:
        """Whether this process may act for `chapter` now: always without leases, else while
        it holds a fresh lease. The chapter's other singletons (head signing, a mirror's
        follower) ask this too."""
        return self.keeper is None or self.keeper.holds(chapter)

    def folding(self) -> set[str]:
        """The chapters this runner folds now."""
        return set(self._chapters)

    def _start(self, chapter: str) -> None:
        if chapter not in self._chapters and not self._stopping:
            self._chapters[chapter] = asyncio.create_task(
                self._run_chapter(chapter), name=f"runner-{chapter}"
            )

    def _cancel(self, chapter: str) -> None:
        task = self._chapters.pop(chapter, None)
        if task is not None:
            task.cancel()

    def _leases_changed(self, gained: set[str], lost: set[str]) -> None:
        for chapter in lost:
            self._cancel(chapter)
            # Another worker folds it now: our positions would only go stale.
            self._positions.pop(chapter, None)
            self._seen.pop(chapter, None)
            self._errors.pop(chapter, None)
        for chapter in gained & self._known:
            self._start(chapter)

    # -- reading your own writes ------------------------------------------------------------

    async def wait(
        self,
        chapter: str,
        rev: int,
        *,
        projections: Sequence[str] | None = None,
    ) -> None:
        """Return once the named projections (default: all) have applied `chapter` up to `rev`.

        Bound it with `asyncio.timeout` where the caller cannot wait forever.
        """
        self.watch(chapter)
        names = (
            list(projections) if projections is not None else [p.name for p in self._projections]
        )

        def reached() -> bool:
            positions = self._positions.get(chapter, {})
            return all(positions.get(name, 0) >= rev for name in names)

        async with self._changed:
            await self._changed.wait_for(reached)

    def positions(self, chapter: str) -> dict[str, int]:
        """Each projection's applied rev for `chapter`."""
        return dict(self._positions.get(chapter, {}))

    def lag(self) -> dict[str, int]:
        """Per chapter: highest rev received minus the lowest rev applied."""
        return {
            chapter: self._seen.get(chapter, 0) - min(positions.values(), default=0)
            for chapter, positions in self._positions.items()
        }

    def errors(self) -> dict[str, str]:
        """The last error of each chapter whose loop is retrying."""
        return dict(self._errors)

    # -- internals --------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _discover(self) -> None:
        while not self._stopping:
            try:
                for book in await self._source.books():
                    if book not in self._books:
                        self._books[book] = asyncio.create_task(
                            self._follow_book(book), name=f"runner-book-{book}"
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("book discovery failed, retrying: %s", exc)
            await asyncio.sleep(self._discover_every)

    async def _follow_book(self, book: str) -> None:
        after = 0
        while not self._stopping:
            try:
                async for recorded in self._source.follow_book(book, after):
                    body = decode(recorded.payload).body
                    if isinstance(body, ChapterRegistered):
                        self.watch(body.chapter)
                    elif isinstance(body, ChapterDeleted):
                        self.unwatch(body.chapter)
                    after = recorded.rev
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("following book %s failed at rev %d, retrying: %s", book, after, exc)
                await asyncio.sleep(self._retry_delay)

    async def _load_positions(self, chapter: str) -> dict[str, int]:
        positions: dict[str, int] = {}
        for projection in self._projections:
            checkpoint = await projection.load_checkpoint(chapter)
            if checkpoint is not None and checkpoint[1] != projection.version:
                log.info(
                    "%s version %d -> %d: rebuilding chapter %s from rev 1",
                    projection.name,
                    checkpoint[1],
                    projection.version,
                    chapter,
                )
                await projection.reset(chapter)
                checkpoint = None
            positions[projection.name] = checkpoint[0] if checkpoint else 0
        return positions

    async def _run_chapter(self, chapter: str) -> None:
        while not self._stopping:
            try:
                await self._fold_chapter(chapter)
            except asyncio.CancelledError:
                raise
            except LeaseNotHeld:
                # Not renewed in time (NATS slow or away): wait for the keeper's next round,
                # which either renews it (we go on) or loses it (this task is cancelled).
                await asyncio.sleep(self._retry_delay)
            except Exception as exc:
                self._errors[chapter] = f"{type(exc).__name__}: {exc}"
                log.warning("chapter %s: %s; resuming from checkpoints", chapter, exc)
                await asyncio.sleep(self._retry_delay)

    def _require_lease(self, chapter: str) -> None:
        if not self.holds(chapter):
            raise LeaseNotHeld(chapter)

    async def _publish(self, chapter: str, positions: dict[str, int]) -> None:
        if self._published is None:
            return
        try:
            lease = self.keeper.held.get(chapter) if self.keeper is not None else None
            fence = lease.revision if lease is not None else None
            if self.keeper is not None and fence is None:
                return  # the lease is gone: its new holder publishes
            await self._published.publish(chapter, positions, fence=fence)
        except Exception as exc:  # NATS away: the next batch publishes again
            log.warning("chapter %s: publishing checkpoints failed: %s", chapter, exc)

    async def _fold_chapter(self, chapter: str) -> None:
        self._require_lease(chapter)
        positions = await self._load_positions(chapter)
        self._positions[chapter] = positions
        await self._publish(chapter, positions)  # a new holder shows where it resumes
        await self._notify()
        queue: asyncio.Queue[RecordedEvent | _Stop] = asyncio.Queue(maxsize=self._batch_size * 4)
        feeder = asyncio.create_task(self._feed(chapter, min(positions.values()), queue))
        try:
            await self._idle(chapter, positions)  # a chapter with nothing new may still have work
            while True:
                batch = await self._next_batch(queue)
                self._seen[chapter] = batch[-1].rev
                envelopes = [decode(recorded.payload) for recorded in batch]
                self._require_lease(chapter)
                opener = getattr(self._source, "open", None)
                if opener is not None:  # personal fields, from the blob store (engine/personal.py)
                    envelopes = await opener(envelopes)
                for projection in self._projections:
                    done = positions[projection.name]
                    todo = [e for e in envelopes if e.rev > done]
                    if todo:
                        recorded = getattr(projection, "apply_recorded", None)
                        if recorded is not None:  # a RecordedProjection: the same revs, as stored
                            await recorded(chapter, batch[len(batch) - len(todo) :])
                        else:
                            await projection.apply(chapter, todo)
                        positions[projection.name] = todo[-1].rev
                        if getattr(projection, "refold_on_erasure", False) and any(
                            isinstance(e.body, ContentErased) for e in todo
                        ):  # it may have reset to re-fold: its checkpoint says where it is
                            checkpoint = await projection.load_checkpoint(chapter)
                            positions[projection.name] = checkpoint[0] if checkpoint else 0
                self._errors.pop(chapter, None)
                await self._publish(chapter, positions)
                await self._notify()
                if any(isinstance(e.body, ContentErased) for e in envelopes):
                    return  # views may have reset to re-fold without the erased content
                if queue.empty():
                    await self._idle(chapter, positions)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder

    async def _idle(self, chapter: str, positions: dict[str, int]) -> None:
        """Let each projection that has folded the whole log do its deferred work.

        A projection behind the head (events in flight, or its own idle's appends not yet
        folded) is skipped: it is asked again once the next batch is applied.
        """
        head_of = getattr(self._source, "head", None)
        head = await head_of(chapter) if head_of is not None else None
        for projection in self._projections:
            if head is None or positions[projection.name] >= head:
                self._require_lease(chapter)  # idle may append (ingest): only the holder
                await projection.idle(chapter)

    async def _feed(
        self, chapter: str, after: int, queue: "asyncio.Queue[RecordedEvent | _Stop]"
    ) -> None:
        try:
            async for recorded in self._source.follow_chapter(chapter, after):
                await queue.put(recorded)
            await queue.put(_Stop(None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(_Stop(exc))

    async def _next_batch(
        self, queue: "asyncio.Queue[RecordedEvent | _Stop]"
    ) -> list[RecordedEvent]:
        item = await queue.get()
        batch: list[RecordedEvent] = []
        while True:
            if isinstance(item, _Stop):
                if batch:  # apply what came before the stop; the stop is seen next time
                    queue.put_nowait(item)
                    return batch
                raise item.error or ConnectionError("the chapter feed ended")
            batch.append(item)
            if len(batch) >= self._batch_size or queue.empty():
                return batch
            item = queue.get_nowait()


class LogSource:
    """The runner's view of the engine's logs (a `HeadSource`)."""

    def __init__(self, logs: Logs) -> None:
        self.logs = logs

    def follow_chapter(self, chapter: str, after: int) -> AsyncIterator[RecordedEvent]:
        """A chapter's events after `after`, then its tail."""
        return self.logs.chapter(chapter).follow(after)

    def follow_book(self, book: str, after: int) -> AsyncIterator[RecordedEvent]:
        """A book's events after `after`, then its tail."""
        return self.logs.book(book).follow(after)

    async def open(self, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """The envelopes with their personal fields opened (or marked erased)."""
        return await open_envelopes(self.logs.blobs, envelopes)

    async def head(self, chapter: str) -> int:
        """A chapter's last rev now."""
        return (await self.logs.chapter(chapter).head()).rev

    async def books(self) -> list[str]:
        """Every book with a log."""
        return await self.logs.book_ids()
