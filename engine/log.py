"""Chapter and book logs on JetStream: create, append (one or many), read, follow, head.

The stream sequence is the revision. Every message carries `Rs-Hash: <hex h[rev]>`, the hash
chain over the stored payloads (docs/architecture.md, "The log in one page"). One `Log` object
is one writer: it holds the head and serialises its appends with a lock; writers in other
objects or processes are kept honest by `Nats-Expected-Last-Sequence`, and a retried publish is
de-duplicated by `Nats-Msg-Id`.

It is one module (about 420 lines): `Log`'s head, appends and reads share one lock and one
cached head; the wire protocol under them is engine/jetstream/.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Literal

import msgspec

from engine.blobs import BlobStore
from engine.errors import (
    ChainBroken,
    ChapterNotFound,
    EventTooLarge,
    LogUnavailable,
    RevisionConflict,
)
from engine.jetstream.appends import BATCH_SIZE, publish_at, publish_batches, publish_singly
from engine.jetstream.feed import Batch, Hole
from engine.jetstream.idempotency import keyed_msg_id
from engine.jetstream.reads import stream_batches
from engine.jetstream.streams import (
    account_ping,
    direct_get,
    ensure_stream,
    stream_info,
    stream_names,
)
from engine.jetstream.wire import Wire
from engine.nats import (
    BOOK_STREAMS_FILTER,
    LIVE_SUBJECT_PREFIX,
    NATS,
    Msg,
    book_id_of_stream,
    book_stream,
    book_subject,
    chapter_live_subject,
    chapter_stream,
    chapter_subject,
    hash_of_headers,
    sequence_of_headers,
)
from engine.personal import seal_bodies
from events import Body, Envelope, RecordedEvent, encode, new_id
from rust_core import GENESIS, chain_link, verify_chain

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_MAX_EVENT_BYTES",
    "GENESIS",
    "Head",
    "Log",
    "LogKind",
    "Logs",
]

DEFAULT_MAX_EVENT_BYTES = 256 * 1024
"""Largest encoded event; far below the server's max_payload (1 MiB). Bytes go to the blob store."""

LogKind = Literal["chapter", "book"]


class Head(msgspec.Struct, frozen=True, kw_only=True):
    """A log's head: its last revision and the chain hash there (rev 0: the empty log)."""

    rev: int
    """Last revision (0 for an empty log)."""
    hash: bytes
    """h[rev] (GENESIS for an empty log)."""

    @property
    def hex(self) -> str:
        """The hash in lower-case hex, as in the `Rs-Hash` header."""
        return self.hash.hex()


EMPTY_HEAD = Head(rev=0, hash=GENESIS)


class _IdOnly(msgspec.Struct):
    id: str


_id_decoder = msgspec.msgpack.Decoder(_IdOnly)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Log:
    """The log of one chapter (stream `RS_CH_<id>`) or book (`RS_BK_<id>`)."""

    def __init__(
        self,
        nc: NATS,
        log_id: str,
        *,
        kind: LogKind = "chapter",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        replicas: int = 1,
        wire: Wire | None = None,
        publish_timeout: float = 5.0,
        unavailable_after: float = 30.0,
        blobs: BlobStore | None = None,
    ) -> None:
        if kind not in ("chapter", "book"):
            raise ValueError(f"a log is a 'chapter' or 'book' log, not {kind!r}")
        self.nc = nc
        self.js = nc.jetstream(timeout=10)
        self.id = log_id
        self.kind: LogKind = kind
        self.stream = chapter_stream(log_id) if kind == "chapter" else book_stream(log_id)
        self.subject = chapter_subject(log_id) if kind == "chapter" else book_subject(log_id)
        # Where a chapter's stream republishes its events for direct guests (books: none).
        self.live = chapter_live_subject(log_id) if kind == "chapter" else None
        self.max_event_bytes = max_event_bytes
        self.replicas = replicas
        self.publish_timeout = publish_timeout
        self.unavailable_after = unavailable_after
        self._wire = wire
        self._own_wire = wire is None
        # Where personal fields are sealed to on append and opened from on read
        # (engine/personal.py); None: a log written without sealing (tools, old tests).
        self.blobs = blobs
        self._head: Head | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"Log({self.kind} {self.id})"

    # --- the stream ---

    async def create(self) -> None:
        """Create the log's stream; `ChapterExists` if it exists."""
        await self.ensure(exist_ok=False)
        self._head = EMPTY_HEAD

    async def ensure(self, *, exist_ok: bool = True) -> None:
        """Create the log's stream unless it exists (`ChapterExists` then, without `exist_ok`)."""
        await ensure_stream(
            self.js, self.stream, self.subject, replicas=self.replicas, live_subject=self.live,
            exist_ok=exist_ok,
        )  # fmt: skip

    async def exists(self) -> bool:
        """Whether the log's stream exists."""
        try:
            await stream_info(self.js, self.stream)
        except ChapterNotFound:
            return False
        return True

    async def head(self) -> Head:
        """The head as stored now: the last message's sequence and its `Rs-Hash`."""
        msg = await direct_get(self.nc, self.stream, last_by_subject=self.subject)
        if msg is None:
            # Nothing on the log's only subject: the log was empty when we looked (an append may
            # have landed since; a writer then meets it as a conflict). Or there is no log.
            await stream_info(self.js, self.stream)
            return EMPTY_HEAD
        rev = sequence_of_headers(msg.headers)
        digest = hash_of_headers(msg.headers)
        if len(digest) != 32:
            raise ChainBroken(self.id, rev, "the last message has no valid Rs-Hash header")
        return Head(rev=rev, hash=digest)

    async def get(self, rev: int) -> RecordedEvent | None:
        """The event at `rev`, or None past the head."""
        if rev < 1:
            raise ValueError(f"revisions start at 1, not {rev}")
        msg = await direct_get(self.nc, self.stream, seq=rev)
        if msg is None:
            return None
        return RecordedEvent(
            rev=sequence_of_headers(msg.headers),
            hash=hash_of_headers(msg.headers),
            payload=msg.data,
        )

    # --- appends ---

    def _encode(self, event_id: str, rev: int, at: int, actor: str, body: Body) -> bytes:
        payload = encode(
            Envelope(id=event_id, chapter=self.id, rev=rev, at=at, actor=actor, body=body)
        )
        if len(payload) > self.max_event_bytes:
            raise EventTooLarge(len(payload), self.max_event_bytes)
        return payload

    async def append(
        self, body: Body, *, actor: str, expected_rev: int | None = None
    ) -> RecordedEvent:
        """Append one event and return it as stored.

        Without `expected_rev` a conflicting append by another writer is absorbed: the head is
        reloaded and the event re-encoded at the next revision. With it, the caller decided on
        the basis of revision `expected_rev` and gets `RevisionConflict` if the log has moved.
        """
        put: str | None = None  # the personal blob this attempt stored, if it sealed one
        if self.blobs is not None:
            (sealed,) = await seal_bodies(self.blobs, [body])
            if getattr(body, "sealed", None) is None:  # sealed already: an existing blob
                put = getattr(sealed, "sealed", None)
            body = sealed
        try:
            stored = await self._append_one(body, actor, expected_rev)
        except (RevisionConflict, EventTooLarge):
            # Definitely not stored, so no event names the blob (its nonce is this attempt's).
            # A caller deciding again (Books._decide) seals afresh; the blob would stay forever.
            if put is not None and self.blobs is not None:
                await self.blobs.delete(put)
            raise
        if (
            put is not None
            and self.blobs is not None
            and getattr(stored.envelope.body, "sealed", None) != put
        ):
            # A client's retried write: the log answered with the event its first attempt
            # stored, which names that attempt's blob, not this one.
            await self.blobs.delete(put)
        return stored

    async def _append_one(self, body: Body, actor: str, expected_rev: int | None) -> RecordedEvent:
        async with self._lock:
            head = self._head or await self.head()
            if expected_rev is not None and expected_rev != head.rev:
                head = await self.head()  # the cached head may be behind other writers
                if expected_rev != head.rev:
                    raise RevisionConflict(expected_rev, head.rev)
            event_id, at = new_id(), _now_ms()
            msg_id = keyed_msg_id(actor)  # a client's retried write is stored once
            conflicts = 0
            while True:
                payload = self._encode(event_id, head.rev + 1, at, actor, body)
                link = chain_link(head.hash, payload)
                stored = await publish_at(
                    self, event_id, head.rev + 1, payload, link, msg_id=msg_id
                )
                if stored is not None:
                    # A duplicate returns the event stored earlier, not this head's successor.
                    fresh = stored.rev == head.rev + 1
                    self._head = Head(rev=stored.rev, hash=stored.hash) if fresh else None
                    return stored
                self._head = None
                if expected_rev is not None:
                    raise RevisionConflict(expected_rev, (await self.head()).rev)
                # Lost a race: step back a moment so that writers do not keep colliding.
                conflicts += 1
                await asyncio.sleep(random.uniform(0, 0.001 * min(conflicts, 10)))
                head = await self.head()

    async def stored_id(self, rev: int) -> str | None:
        """The event id stored at `rev`, if any."""
        msg = await direct_get(self.nc, self.stream, seq=rev)
        if msg is None:
            return None
        try:
            return _id_decoder.decode(msg.data).id
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    async def append_many(
        self, bodies: Iterable[Body], *, actor: str | Sequence[str]
    ) -> list[RecordedEvent]:
        """Append many events fast and durably, as atomic batches of `BATCH_SIZE`
        (engine/jetstream/appends.py). `actor` is everyone's, or one per body (a copy keeps
        each original event's actor).

        Every event is encoded and size-checked before anything is published, so an oversized
        event (`EventTooLarge`) appends nothing. Each batch is all-or-nothing. When another
        writer gets in between, the head is reloaded and the rest re-encoded after it; an error
        that is not a conflict leaves the batches acknowledged before it in the log (the events
        returned so far are on `head()`).
        """
        bodies = list(bodies)
        actors = [actor] * len(bodies) if isinstance(actor, str) else list(actor)
        if len(actors) != len(bodies):
            raise ValueError(f"{len(actors)} actors for {len(bodies)} events")
        if not bodies:
            return []
        if self.blobs is not None:
            bodies = await seal_bodies(self.blobs, bodies)
        async with self._lock:
            head = self._head or await self.head()
            ids, at = [new_id() for _ in bodies], _now_ms()
            payloads = [
                self._encode(ids[i], head.rev + 1 + i, at, actors[i], b)
                for i, b in enumerate(bodies)
            ]
            done: list[RecordedEvent] = []
            deadline = time.monotonic() + self.unavailable_after
            stale = False  # whether `head` must be reloaded and the rest re-encoded after it
            while len(done) < len(bodies):
                try:
                    if stale:
                        head = await self.head()
                        n = len(done)
                        payloads[n:] = [
                            self._encode(
                                ids[n + i], head.rev + 1 + i, at, actors[n + i], bodies[n + i]
                            )
                            for i in range(len(bodies) - n)
                        ]
                    before = len(done)
                    if not await publish_batches(self, head, ids, payloads, done):
                        # a stream made elsewhere, without atomic batches
                        tip = done[-1] if len(done) > before else head
                        await publish_singly(self, tip, ids, payloads, done)
                    if len(done) > before:
                        head = Head(rev=done[-1].rev, hash=done[-1].hash)
                    stale = len(done) < len(bodies)  # another writer got in between
                    deadline = time.monotonic() + self.unavailable_after
                except LogUnavailable:
                    self._head = None
                    if time.monotonic() > deadline:
                        raise
                    stale = True
                    await asyncio.sleep(0.2)
            self._head = head
            return done

    # --- reads ---

    def wire(self) -> Wire:
        """The fast connection this log reads and bulk-appends over (opened on first use)."""
        if self._wire is None:
            self._wire = Wire(self.nc)
        return self._wire

    async def stored_batches(
        self, after: int = 0, until: int | None = None, *, follow: bool = False
    ) -> AsyncIterator[Batch | Hole]:
        """The stored messages after `after`, as delivered: contiguous `Batch`es (payloads and
        their `Rs-Hash`, unchecked), or a `Hole` where revisions are missing. When `after` > 0 the
        first batch starts at `after` itself, so that its hash can seed verification."""
        if until is not None and until <= after:
            return
        wire = self.wire()
        retry_for = None if follow else self.unavailable_after
        async for item in stream_batches(
            wire, self.stream, max(after, 1), until, follow=follow, retry_for=retry_for
        ):
            yield item

    async def read_batches(
        self, after: int = 0, until: int | None = None, *, verify: bool = True, follow: bool = False
    ) -> AsyncIterator[list[RecordedEvent]]:
        """Events after revision `after` through `until` (None: through the head as it is when
        the read begins; with `follow`, forever), in batches, each checked against the hash chain
        (`ChainBroken` names the first bad revision)."""
        prev: bytes | None = GENESIS if after == 0 else None
        async for item in self.stored_batches(after, until, follow=follow):
            if isinstance(item, Hole):
                raise ChainBroken(self.id, item.expected, "the revision is missing from the stream")
            first, payloads, hashes = item.first, item.payloads, item.hashes
            if prev is None:  # the message at `after`, read for its hash only
                prev, payloads, hashes, first = hashes[0], payloads[1:], hashes[1:], first + 1
                if len(prev) != 32:
                    raise ChainBroken(self.id, after, "the message has no valid Rs-Hash header")
                if not payloads:
                    continue
            if verify:
                bad = verify_chain(prev, payloads, hashes)
                if bad is not None:
                    raise ChainBroken(
                        self.id, first + bad, "its stored hash does not match the recomputed chain"
                    )
            prev = hashes[-1]
            yield [
                RecordedEvent(rev=first + i, hash=h, payload=p)
                for i, (p, h) in enumerate(zip(payloads, hashes, strict=True))
            ]

    async def read(
        self, after: int = 0, until: int | None = None, *, verify: bool = True
    ) -> AsyncIterator[RecordedEvent]:
        """Events after revision `after` through `until` (None: the head when the read begins)."""
        async for batch in self.read_batches(after, until, verify=verify):
            for event in batch:
                yield event

    async def follow(self, after: int = 0, *, verify: bool = True) -> AsyncIterator[RecordedEvent]:
        """Events after revision `after`, then each new one as it is appended, forever.
        Survives server restarts and lost connections (it resumes at the next revision)."""
        async for batch in self.read_batches(after, verify=verify, follow=True):
            for event in batch:
                yield event

    async def close(self) -> None:
        """Close the read connection this log opened (not one shared through `Logs`)."""
        if self._own_wire and self._wire is not None:
            await self._wire.close()
            self._wire = None


class Logs:
    """The per-process registry of logs: one writer per log, one shared read connection."""

    def __init__(
        self,
        nc: NATS,
        *,
        replicas: int = 1,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        blobs: BlobStore | None = None,
    ) -> None:
        self.nc = nc
        self.blobs = blobs
        self.replicas = replicas
        self.max_event_bytes = max_event_bytes
        self._wire = Wire(nc)
        self._logs: dict[str, Log] = {}

    def _get(self, log_id: str, kind: LogKind) -> Log:
        log = Log(
            self.nc,
            log_id,
            kind=kind,
            max_event_bytes=self.max_event_bytes,
            replicas=self.replicas,
            wire=self._wire,
            blobs=self.blobs,
        )
        return self._logs.setdefault(log.stream, log)

    def chapter(self, chapter_id: str) -> Log:
        """The log of a chapter (the same object on every call)."""
        return self._get(chapter_id, "chapter")

    def book(self, book_id: str) -> Log:
        """The log of a book (the same object on every call)."""
        return self._get(book_id, "book")

    async def book_ids(self) -> list[str]:
        """Every book that has a log on the server."""
        names = await stream_names(self.nc, BOOK_STREAMS_FILTER)
        return [book for name in names if (book := book_id_of_stream(name)) is not None]

    async def watch_chapters(
        self, on_event: Callable[[str, bytes], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """Call `on_event(chapter, payload)` for every event any chapter stores from now on
        (the streams' live republish: stored events only, at most once, not for catch-up);
        returns the function that stops watching."""

        async def deliver(msg: Msg) -> None:
            await on_event(msg.subject.removeprefix(LIVE_SUBJECT_PREFIX), msg.data)

        subscription = await self.nc.subscribe(LIVE_SUBJECT_PREFIX + "*", cb=deliver)

        async def stop() -> None:
            with contextlib.suppress(Exception):  # the connection may be closing already
                await subscription.unsubscribe()

        return stop

    async def ping(self) -> None:
        """Return once JetStream answers; `LogUnavailable` when it does not."""
        await account_ping(self.nc)

    def server_url(self) -> str | None:
        """`nats://host:port` of the server connected to now (no credentials); None if none."""
        url = self.nc.connected_url
        return None if url is None else f"nats://{url.hostname}:{url.port}"

    async def close(self) -> None:
        """Close the shared read connection."""
        await self._wire.close()

    async def __aenter__(self) -> Logs:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
