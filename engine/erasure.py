"""Erasure commands (GDPR): a source, a whole chapter, a person (docs/log-format.md, "Erasure").

Each erasure of one chapter works the same way, and is safe to kill and re-run at any point:

1. read the chapter's log and gather the blobs to erase (personal blobs, and for a source or a
   whole chapter its content blobs: bytes, assets, extracted texts, chunk manifests);
2. keep content blobs another chapter still names (reference counting over every chapter on the
   server: copies re-issue the same events, so they share blobs; a live mirror of the chapter
   does not count, it forgets with its original); personal blobs of a person's erasure go
   whatever references them ("erasing a person removes their content everywhere");
3. append `ContentErased{refs, ...}` unless an earlier one already erased all of these refs (a
   re-run appends nothing new), then delete the blobs. The eraser projection deletes them too,
   so an erasure killed after its event was stored completes when the runner resumes; and the
   views, the vector index and mirrors forget on seeing the event.

The chain is untouched: the erased values were never in the chained bytes, only their keyed
hashes (events/personal.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from engine.accounts import AccountStore, UserNotFound
from engine.blobs import BlobStore
from engine.books import Books
from engine.errors import ChapterNotFound
from engine.log import Log, Logs
from engine.personal import open_bodies
from engine.rules import BookState, Conflict, NotFound
from events import (
    Body,
    BookCreated,
    ChapterMirrored,
    ChapterRegistered,
    ContentErased,
    MemberAdded,
    MessagePosted,
    SourceAdded,
    ThreadStarted,
    decode,
)
from events.blobs import blobs_of
from events.personal import ERASED

__all__ = ["Erased", "Erasure", "their_chat"]


@dataclass
class Erased:
    """What an erasure did: per chapter, the rev of its `ContentErased` (None: nothing new to
    erase there), and the blobs erased (no longer in the blob store)."""

    revs: dict[str, int | None] = field(default_factory=dict)
    blobs: set[str] = field(default_factory=set)
    books: list[str] = field(default_factory=list)
    """Books erased whole (the person was their only member)."""
    book_revs: dict[str, int | None] = field(default_factory=dict)
    """Per book, the rev of the `ContentErased` in its log (a person's erasure)."""


class Erasure:
    """The erasure commands over the logs, the books, the blob store and the accounts."""

    def __init__(
        self, logs: Logs, books: Books, blobs: BlobStore, accounts: AccountStore | None = None
    ) -> None:
        self.logs = logs
        self.books = books
        self.blobs = blobs
        self.accounts = accounts

    # -- commands ---------------------------------------------------------------------------

    async def erase_source(self, actor: str, chapter: str, source: str) -> Erased:
        """Erase one source of `chapter` (its admins' command; the caller checked the right)."""
        bodies = await self._bodies(chapter)
        if not any(isinstance(b, SourceAdded) and b.source == source for b in bodies):
            raise NotFound(f"chapter {chapter} has no source {source}")
        about = [b for b in bodies if getattr(b, "source", None) == source]
        refs = {h for b in about for h in blobs_of(b)}
        kept = await self._referenced_elsewhere({chapter}, _content_refs(about))
        done = Erased()
        event = ContentErased(refs=sorted(refs - kept), source=source, reason="source")
        done.revs[chapter] = await self._append(chapter, event, bodies, actor)
        done.blobs |= await self._delete(refs - kept)
        return done

    async def erase_chapter(self, actor: str, chapter: str, *, subject: str | None) -> Erased:
        """Erase everything `chapter` holds: its title, sources, threads and shares."""
        bodies = await self._bodies(chapter)
        kept = await self._referenced_elsewhere({chapter}, _content_refs(bodies))
        return await self._erase_whole(actor, chapter, bodies, kept, subject=subject)

    async def _erase_whole(
        self, actor: str, chapter: str, bodies: list[Body], kept: set[str], *, subject: str | None
    ) -> Erased:
        refs = {h for b in bodies for h in blobs_of(b)}
        done = Erased()
        event = ContentErased(
            refs=sorted(refs - kept), subject=subject, whole=True, reason="chapter"
        )
        done.revs[chapter] = await self._append(chapter, event, bodies, actor)
        done.blobs |= await self._delete(refs - kept)
        return done

    async def check_person(self, user: str) -> list[BookState]:
        """The person's books; `Conflict` naming the first book they own alone with others in
        it (its ownership must move first). Nothing is erased before this passes."""
        books = await self.books.books_of(user)
        for state in books:
            if state.owner == user and len(state.members) > 1:
                raise Conflict(
                    f"you are the only owner of the book {state.name!r} ({state.id}), which has "
                    "other members: transfer its ownership before erasing your account"
                )
        return books

    async def erase_person(
        self, user: str, *, settle: Callable[[str, int], Awaitable[bool]] | None = None
    ) -> Erased:
        """Erase a person: the chapters assigned to them, their messages and threads wherever
        they are, the books they were the only member of, then their profile. Re-runnable.

        `settle(chapter, rev)` waits until the read models have folded an erasure: a chapter
        leaves its book only then (a deleted chapter is no longer followed, so its views must
        have forgotten first); False (timed out) stops here with `Conflict` — run it again."""
        books = await self.check_person(user)
        done = Erased()
        theirs = {
            state.id: list(state.chapters)
            if set(state.members) == {user}
            else state.chapters_of(user)
            for state in books
        }
        bodies = {c: await self._bodies(c) for mine in theirs.values() for c in mine}
        # One scan of the server for all their chapters: a blob only they name goes with them.
        kept = await self._referenced_elsewhere(
            set(bodies), {h for b in bodies.values() for h in _content_refs(b)}
        )
        erased_whole: set[str] = set()
        for state in books:
            alone = set(state.members) == {user}
            mine = theirs[state.id]
            for chapter in mine:
                part = await self._erase_whole(user, chapter, bodies[chapter], kept, subject=user)
                done.revs |= part.revs
                done.blobs |= part.blobs
                erased_whole.add(chapter)
                head = (await self.logs.chapter(chapter).head()).rev
                if settle is not None and not await settle(chapter, head):
                    raise Conflict(
                        f"chapter {chapter} is still being erased by the read models; "
                        "run the erasure again in a moment"
                    )
                await self.books.delete_chapter(user, chapter)
            # Before they leave: a re-run finds only the books they are still a member of.
            done.book_revs |= await self._erase_from_book(user, state.id, mine, alone=alone)
            if alone:
                done.books.append(state.id)
            else:
                await self.books.remove_member(user, state.id, user)
        for chapter in await self._every_chapter():
            if chapter in erased_whole:
                continue
            part = await self._erase_messages(user, chapter)
            done.revs |= part.revs
            done.blobs |= part.blobs
        if self.accounts is not None:
            with contextlib.suppress(UserNotFound):  # a re-run after the profile went
                await self.accounts.delete_user(user)
        return done

    # -- the parts --------------------------------------------------------------------------

    async def _erase_messages(self, user: str, chapter: str) -> Erased:
        # Their threads (with the answers in them) and any message they posted elsewhere.
        bodies, actors = await self._bodies_and_actors(chapter)
        theirs = [
            b for b, mine in zip(bodies, their_chat(user, bodies, actors), strict=True) if mine
        ]
        refs = {s for b in theirs if (s := getattr(b, "sealed", None)) is not None}
        done = Erased()
        if not theirs:
            return done
        event = ContentErased(refs=sorted(refs), subject=user, reason="person")
        done.revs[chapter] = await self._append(chapter, event, bodies, user)
        done.blobs |= await self._delete(refs)
        return done

    async def _erase_from_book(
        self, user: str, book: str, chapters: list[str], *, alone: bool
    ) -> dict[str, int | None]:
        """Erase the person from the book's log: their e-mail (every `MemberAdded` of them,
        an invitation to their address included) and the titles of their chapters; everything
        sealed in it (the name too) when they were its only member. A team's book keeps its name."""
        book_log = self.logs.book(book)
        bodies, _ = await _read(book_log)
        opened = await open_bodies(self.blobs, bodies)
        emails = {
            b.email for b in opened if isinstance(b, MemberAdded) and b.user == user and b.email
        } - {ERASED}
        theirs = [
            raw
            for raw, b in zip(bodies, opened, strict=True)
            if alone
            or (isinstance(b, MemberAdded) and (b.user == user or b.email in emails))
            or (isinstance(b, BookCreated) and b.owner_email in emails)
            or (isinstance(b, ChapterRegistered) and b.chapter in chapters)
        ]
        refs = {s for b in theirs if (s := getattr(b, "sealed", None)) is not None}
        if not refs:
            return {}
        event = ContentErased(refs=sorted(refs), subject=user, whole=alone, reason="person")
        rev = await self._append(book, event, bodies, user, log=book_log)
        await self._delete(refs)
        return {book: rev}

    async def _append(
        self,
        chapter: str,
        event: ContentErased,
        bodies: list[Body],
        actor: str,
        *,
        log: Log | None = None,
    ) -> int | None:
        # A re-run whose refs an earlier erasure already covers appends nothing new.
        before = [b for b in bodies if isinstance(b, ContentErased)]
        covered = {r for b in before for r in b.refs}
        same_kind = any(
            (b.source, b.subject, b.whole) == (event.source, event.subject, event.whole)
            for b in before
        )
        if same_kind and set(event.refs) <= covered:
            return None
        log = log or self.logs.chapter(chapter)
        return (await log.append(event, actor=actor)).rev

    async def _delete(self, refs: Iterable[str]) -> set[str]:
        # Every ref is gone afterwards, whoever deleted it (the eraser may have been first).
        refs = set(refs)
        for ref in sorted(refs):
            await self.blobs.delete(ref)
        return refs

    async def _bodies(self, chapter: str) -> list[Body]:
        return (await self._bodies_and_actors(chapter))[0]

    async def _bodies_and_actors(self, chapter: str) -> tuple[list[Body], list[str]]:
        try:
            return await _read(self.logs.chapter(chapter))
        except ChapterNotFound:
            raise NotFound(f"no chapter {chapter}") from None

    async def _every_chapter(self) -> list[str]:
        chapters: list[str] = []
        for book in await self.logs.book_ids():
            try:
                state = await self.books.state(book)
            except NotFound:
                continue
            chapters.extend(state.chapters)
        return list(dict.fromkeys(chapters))

    async def _referenced_elsewhere(self, chapters: set[str], refs: set[str]) -> set[str]:
        """Which of `refs` a chapter not in `chapters` still names (so they stay). This reads
        every chapter on the server: erasures are rare, and a count kept by a projection could
        lag."""
        if not refs:
            return set()
        kept: set[str] = set()
        for other in await self._every_chapter():
            if other in chapters:
                continue
            try:
                bodies = await self._bodies(other)
            except NotFound:
                continue
            if (
                bodies
                and isinstance(bodies[0], ChapterMirrored)
                and (bodies[0].from_chapter in chapters)
            ):
                continue  # a live mirror follows an erased chapter: it forgets with it
            erasures = [b for b in bodies if isinstance(b, ContentErased)]
            if any(b.whole for b in erasures):
                continue  # nothing there is live any more
            gone = {b.source for b in erasures if b.source is not None}
            erased = {r for b in erasures for r in b.refs}
            live = {
                h
                for b in bodies
                if getattr(b, "source", None) not in gone
                for h in blobs_of(b)
                if h in refs
            }
            kept |= live - erased
            if kept == refs:
                break
        return kept


def their_chat(user: str, bodies: Sequence[Body], actors: Sequence[str]) -> list[bool]:
    """Which of a chapter's events (`bodies`, by `actors`) are `user`'s chat: the threads they
    started, every message in those (the answers too), and any message they posted elsewhere.
    What a person's erasure erases in a chapter not theirs, and their export carries."""
    threads = {
        b.thread
        for b, a in zip(bodies, actors, strict=True)
        if isinstance(b, ThreadStarted) and a == user
    }
    return [
        (isinstance(b, ThreadStarted) and b.thread in threads)
        or (isinstance(b, MessagePosted) and (b.thread in threads or a == user))
        for b, a in zip(bodies, actors, strict=True)
    ]


async def _read(log: Log) -> tuple[list[Body], list[str]]:
    # The raw (sealed) bodies and their actors: erasure needs the refs, never the personal values.
    bodies: list[Body] = []
    actors: list[str] = []
    async for batch in log.read_batches(0, None, verify=True):
        for recorded in batch:
            e = decode(recorded.payload)
            bodies.append(e.body)
            actors.append(e.actor)
    return bodies, actors


def _content_refs(bodies: Iterable[Body]) -> set[str]:
    # The content blobs `bodies` name; their personal blobs go whoever else names them (a
    # copy re-issues the sealed events, but erasing a person removes their words everywhere).
    bodies = list(bodies)
    personal = {s for b in bodies if (s := getattr(b, "sealed", None)) is not None}
    return {h for b in bodies for h in blobs_of(b)} - personal
