"""Sharing, the guest's side: accepting a share into one of the guest's books, and keeping live
mirrors in step with the owner's chapter.

Every accepted share becomes a chapter of the guest's book, marked with its share:

- **copy**: a chapter of its own whose log starts with `ChapterForked` and re-issues the
  original's in-scope events (engine/copies.py); nothing crosses afterwards.
- **proxied** and **direct**: a *mirror*, whose log starts with `ChapterMirrored`. A follower
  (`Mirrors`, run where projections are folded) appends what the owner's chapter gained:
  compacted batches once per tick for proxied shares, each event as it is stored for direct
  ones, each batch closed by `MirrorSynced(rev, head)` naming the owner's rev and chain hash it
  caught up to. Blobs the events name are fetched from the owner first, so the guest's own read
  models (catalogue, search) work on the mirror as on any chapter; ingest leaves mirrors alone,
  since their extractions come from the owner.

A live mirror whose share ends (revoked, expired, stopped by the owner's book) leaves the
guest's book; a copy stays, it was a copy. The share's token is kept encrypted in the guest's
accounts store, never in a log.

With several workers, a mirror is followed only by its chapter's lease holder (the runner's
`holds`): discovery starts a follower when the lease is held and stops one whose lease went,
and a follower checks the lease before each append, so two never append the same batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import msgspec

from app.copying import accept_copy
from app.mirror_records import PeerRecord, forget_token, keep, mirror_record
from app.peers import FeedBatch, Peer, PeerUnavailable, open_peer
from app.services import Services
from app.shares import Connection
from engine.accounts import InvalidShareToken, User
from engine.errors import BlobNotFound
from engine.jetstream.guest import AccessRevoked, follow_direct
from engine.rules import ChapterEntry, Conflict, Forbidden, Invalid, NotFound
from engine.shares import ShareEnded
from events import Body, ChapterMirrored, MirrorSynced
from events.blobs import blobs_of
from events.scopes import copied_types
from projections.runner import LeaseNotHeld

__all__ = ["MIRROR_ACTOR", "Accepted", "Mirrors", "accept"]

log = logging.getLogger(__name__)

MIRROR_ACTOR = "proc:mirror"
"""The actor of what a follower appends to a mirror: the owner's facts, relayed."""
DISCOVER_S = 5.0
"""How often a follower process looks for mirrors accepted elsewhere."""
RETRY_S = 5.0
"""Pause after a follower's failure that is not the share's end."""


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    """A share accepted into a book."""

    book: str
    entry: ChapterEntry
    mode: str


async def _target_book(services: Services, user: User, book: str | None) -> str:
    if book is not None:
        state = await services.books.state(book, fresh=True)
        state.require_member(user.id)
        return book
    mine = await services.books.books_of(user.id, user.email)
    if not mine:
        raise Conflict("you have no book to accept the share into; create one first")
    return mine[0].id


async def accept(
    services: Services,
    user: User,
    token: str,
    *,
    book: str | None = None,
    from_url: str | None = None,
) -> Accepted:
    """Accept the share `token` opens (on this server, or on `from_url`'s) into `book` (default:
    the caller's first book); the new chapter. A share is accepted once per book."""
    if from_url is None:
        access = await services.shares.resolve(token)
        if access.grantee != user.email.strip().lower():
            raise Forbidden("this share was granted to another address; only they can accept it")
    target = await _target_book(services, user, book)
    peer = open_peer(services, token, from_url)
    try:
        connection = await peer.connect()
        state = await services.books.state(target, fresh=True)
        taken = [e for e in state.chapters.values() if e.share == connection.share]
        if taken:
            raise Conflict(f"this share is already in the book, as chapter {taken[0].id}")
        if connection.mode == "copy":
            chapter = await accept_copy(services, user, target, connection, peer)
            entry = (await services.books.state(target, fresh=True)).chapters[chapter]
        else:
            chapter = await _start_mirror(services, user, target, token, from_url, connection, peer)
            entry = await services.books.register_shared(
                user.id, target, chapter, connection.title, share=connection.share
            )
    finally:
        await peer.aclose()
    if connection.mode != "copy" and services.mirrors is not None:
        services.mirrors.follow(chapter)  # a gateway-only process leaves it to the workers
    await services.settled(chapter)  # the new chapter reads as accepted at once
    return Accepted(book=target, entry=entry, mode=connection.mode)


async def _start_mirror(
    services: Services,
    user: User,
    book: str,
    token: str,
    from_url: str | None,
    connection: Connection,
    peer: Peer,
) -> str:
    """A new mirror chapter (not yet in the book), with the share's token kept for its
    follower, and a proxied share's snapshot applied at once."""
    first = ChapterMirrored(
        book=book, title=connection.title, share=connection.share,
        mode=connection.mode,  # type: ignore[arg-type]
        from_chapter=connection.chapter, from_server=from_url,
    )  # fmt: skip
    chapter = await services.books.start_chapter(book, first, actor=user.id)
    record = PeerRecord(
        share=connection.share, mode=connection.mode, from_chapter=connection.chapter,
        from_server=from_url, interval_s=connection.interval_s,
        permissions=list(connection.permissions),
    )  # fmt: skip
    await keep(services, chapter, token, record)
    if connection.mode == "proxied":  # a new guest gets a snapshot at once
        await apply_batch(services, chapter, await peer.feed(0), peer)
    return chapter


async def apply_batch(services: Services, chapter: str, batch: FeedBatch, peer: Peer) -> int:
    """Append a proxied batch to the mirror (its blobs fetched first); the mirror's new rev."""
    await _fetch_blobs(services, peer, batch.blobs, batch.events)
    bodies: list[Body] = [
        *batch.events,
        MirrorSynced(rev=batch.rev, head=batch.head, compacted=True),
    ]
    recorded = await services.logs.chapter(chapter).append_many(bodies, actor=MIRROR_ACTOR)
    return recorded[-1].rev


async def _fetch_blobs(
    services: Services, peer: Peer, hashes: list[str], bodies: Sequence[object] = ()
) -> None:
    # A personal blob the owner erased since is not an error: the event reads as erased here too.
    personal = {r for b in bodies if (r := getattr(b, "sealed", None)) is not None}
    for hash in dict.fromkeys(hashes):
        if not await services.blobs.exists(hash):
            try:
                data = await peer.blob(hash)
            except (PeerUnavailable, BlobNotFound):
                if hash in personal:
                    continue
                raise
            stored = await services.blobs.put(data)
            if stored != hash:
                raise Invalid(f"blob {hash[:12]}… arrived with other bytes")


async def _synced(services: Services, chapter: str) -> tuple[int, str | None]:
    """The owner's rev and chain hash the mirror last caught up to ((0, None) before any)."""
    synced: tuple[int, str | None] = (0, None)
    async for recorded in services.logs.chapter(chapter).read():
        body = recorded.envelope.body
        if isinstance(body, MirrorSynced):
            synced = (body.rev, body.head)
    return synced


class Mirrors:
    """The followers of this process's live mirrors (roles all and worker)."""

    def __init__(self, services: Services, *, discover_every: float = DISCOVER_S) -> None:
        self.services = services
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._discover_every = discover_every
        self._discovery: asyncio.Task[None] | None = None
        self._copies: set[str] = set()

    async def start(self) -> None:
        """Follow every live mirror of every book, now and as they are accepted (by this
        process or by a gateway-only one)."""
        await self._discover()
        self._discovery = asyncio.create_task(self._keep_discovering(), name="mirror-discovery")

    async def _keep_discovering(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._discover_every)
            try:
                await self._discover()
            except Exception as exc:  # NATS restarting: the next round finds them
                log.warning("looking for mirrors failed, retrying: %s", exc)

    def _owns(self, chapter: str) -> bool:
        return self.services.read.runner.holds(chapter)

    async def _discover(self) -> None:
        for chapter in [c for c in self._tasks if not self._owns(c)]:
            self._tasks.pop(chapter).cancel()  # its lease went to another worker
        for book in await self.services.logs.book_ids():
            with contextlib.suppress(NotFound):
                state = await self.services.books.state(book)
                for entry in state.chapters.values():
                    if (
                        entry.share is not None
                        and entry.id not in self._tasks
                        and await self._is_mirror(entry.id)
                    ):
                        self.follow(entry.id)

    async def _is_mirror(self, chapter: str) -> bool:
        if chapter in self._copies:
            return False
        first = await self.services.logs.chapter(chapter).get(1)
        if first is not None and isinstance(first.envelope.body, ChapterMirrored):
            return True
        self._copies.add(chapter)  # a copy stays a copy: never read its first event again
        return False

    def follow(self, chapter: str) -> None:
        """Keep `chapter` (a live mirror) in step (idempotent)."""
        if chapter not in self._tasks and not self._stopping and self._owns(chapter):
            self._tasks[chapter] = asyncio.create_task(self._run(chapter), name=f"mirror-{chapter}")

    async def stop(self) -> None:
        """Stop every follower."""
        self._stopping = True
        tasks = list(self._tasks.values())
        if self._discovery is not None:
            tasks.append(self._discovery)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _run(self, chapter: str) -> None:
        services = self.services
        while not self._stopping:
            try:
                found = await mirror_record(services, chapter)
                if found is None:
                    log.warning("mirror %s has no share token; it is not followed", chapter)
                    return
                token, record = found
                peer = open_peer(services, token, record.from_server)
                try:
                    if record.mode == "proxied":
                        await self._follow_proxied(chapter, peer)
                    else:
                        await self._follow_direct(chapter, peer, record)
                finally:
                    await peer.aclose()
            except (ShareEnded, InvalidShareToken) as exc:
                await self._leave(chapter, str(exc))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("mirror %s: %s; retrying", chapter, exc)
                await asyncio.sleep(RETRY_S)

    async def _follow_proxied(self, chapter: str, peer: Peer) -> None:
        after, _ = await _synced(self.services, chapter)
        while not self._stopping:
            batch = await peer.feed(after)
            if batch.rev != after or batch.events:
                self._require_lease(chapter)
                await apply_batch(self.services, chapter, batch, peer)
                after = batch.rev
            now = int(time.time() * 1000)
            wait_ms = (batch.next_tick_at or now + 1000) - now
            await asyncio.sleep(min(max(wait_ms / 1000, 0.2), 600.0))

    async def _follow_direct(self, chapter: str, peer: Peer, record: PeerRecord) -> None:
        services = self.services
        connection = await peer.connect()  # issues this follower's credentials
        if connection.nats is None:
            raise PeerUnavailable("the owner's server sent no NATS credentials for a direct share")
        wanted = copied_types(connection.scope)
        after, head = await _synced(services, chapter)
        mirror = services.logs.chapter(chapter)
        try:
            async for event in follow_direct(
                connection.nats, connection.chapter, after=after,
                prev=bytes.fromhex(head) if head else None,
            ):  # fmt: skip
                body = event.envelope.body
                if not isinstance(body, wanted):
                    continue  # out of scope; the next in-scope event's sync covers its rev
                await _fetch_blobs(services, peer, blobs_of(body), [body])
                self._require_lease(chapter)
                synced = MirrorSynced(rev=event.rev, head=event.hash.hex())
                await mirror.append_many([body, synced], actor=MIRROR_ACTOR)
        except AccessRevoked:
            # Revoked, or these credentials were re-issued to a newer connect: the peer says
            # which (ShareEnded when the share is over; else the loop reconnects).
            await peer.connect()
            raise

    def _require_lease(self, chapter: str) -> None:
        if not self._owns(chapter):
            raise LeaseNotHeld(chapter)  # _run retries; discovery cancels it if the lease went

    async def _leave(self, chapter: str, why: str) -> None:
        """The share ended: the mirror leaves the guest's book (its log stays for audit)."""
        log.info("mirror %s: the share ended (%s); it leaves its book", chapter, why)
        book = await self.services.books.book_of(chapter)
        await self.services.books.drop_shared(book, chapter, actor=MIRROR_ACTOR)
        await forget_token(self.services, chapter)
        self._tasks.pop(chapter, None)
