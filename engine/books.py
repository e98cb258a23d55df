"""Book and chapter commands, with the rules of engine/rules.py checked before each append.

`Books` is this process's directory of books: each book's state is folded from its log and kept
fresh by a core-NATS subscription to every book subject (an append anywhere marks that book
stale; the next read folds the new events). A command decides on the state at rev N and appends
with `expected_rev=N`; if another writer got there first it refolds, re-checks and tries again.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence

from nats.aio.msg import Msg

from engine.errors import ChapterNotFound, RevisionConflict
from engine.jetstream.idempotency import keyed_id
from engine.log import Logs
from engine.nats import ALL_BOOK_SUBJECTS, book_id_of_subject
from engine.personal import open_envelopes
from engine.rules import BookState, ChapterEntry, Conflict, Forbidden, Invalid, NotFound
from events import (
    Body,
    BookCreated,
    ChapterCreated,
    ChapterDeleted,
    ChapterForked,
    ChapterMirrored,
    ChapterReassigned,
    ChapterRegistered,
    ChapterRenamed,
    ContentErased,
    MemberAdded,
    MemberRemoved,
    Plan,
    PlanChanged,
    PolicyChanged,
    Role,
    RoleChanged,
    is_id,
    new_id,
)

log = logging.getLogger(__name__)

INVITE_PREFIX = "email:"
"""Prefix of the member key of someone invited before they had an account; claimed when they
sign in. The rest is a random id: the key sits in the chained bytes of the book log, where an
address could never be erased (books written before sealing have `email:<address>` keys)."""
_MAX_TRIES = 20


def invite_key() -> str:
    """A new member key for a pending invitation."""
    return INVITE_PREFIX + new_id()


def member_key(state: BookState, user: str) -> str:
    """`user` as a key of `state.members`: a pending invitation may also be named
    `email:<address>`, as it was keyed before keys became opaque."""
    if user in state.members or not user.startswith(INVITE_PREFIX):
        return user
    email = user.removeprefix(INVITE_PREFIX).strip().lower()
    for key, member in state.members.items():
        if key.startswith(INVITE_PREFIX) and member.email == email:
            return key
    return user


class Books:
    """Every book this process knows, and the commands that change books and chapters."""

    def __init__(self, logs: Logs) -> None:
        self.logs = logs
        self._states: dict[str, BookState] = {}
        self._stale: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._chapter_books: dict[str, str] = {}
        self._subscription = None

    async def start(self) -> None:
        """Load every book and watch all book subjects for appends by anyone."""

        async def on_append(msg: Msg) -> None:
            self._stale.add(book_id_of_subject(msg.subject))

        self._subscription = await self.logs.nc.subscribe(ALL_BOOK_SUBJECTS, cb=on_append)
        for book in await self.logs.book_ids():
            with contextlib.suppress(NotFound):
                await self.state(book)

    async def stop(self) -> None:
        """Stop watching."""
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    # -- reading ------------------------------------------------------------------------------

    async def state(self, book: str, *, fresh: bool = False) -> BookState:
        """The book's state, folded up to its head when stale or when `fresh` is asked for."""
        if not is_id(book):
            raise NotFound("no such book")
        lock = self._locks.setdefault(book, asyncio.Lock())
        try:
            return await self._fold(book, lock, fresh)
        except NotFound:
            self._locks.pop(book, None)  # made-up ids must not accumulate
            raise

    async def _fold(self, book: str, lock: asyncio.Lock, fresh: bool) -> BookState:
        async with lock:
            state = self._states.get(book)
            if state is None or fresh or book in self._stale:
                self._stale.discard(book)
                try:
                    state = await self._fold_log(book, state or BookState(id=book))
                except ChapterNotFound:
                    raise NotFound("no such book") from None
                if state.rev == 0:
                    raise NotFound("no such book")
                self._states[book] = state
                for entry in state.chapters.values():
                    self._chapter_books[entry.id] = book
            return state

    async def _fold_log(self, book: str, state: BookState) -> BookState:
        book_log = self.logs.book(book)
        partial = state.rev > 0
        async for batch in book_log.read_batches(after=state.rev):
            envelopes = [recorded.envelope for recorded in batch]
            if partial and any(isinstance(e.body, ContentErased) for e in envelopes):
                # An erasure: what was folded from the erased blobs must go from memory too,
                # in every process that folds this book, so it folds again from rev 1.
                return await self._fold_log(book, BookState(id=book))
            # Names, e-mails and titles are sealed (events/personal.py); erased ones fold as
            # `[erased]`.
            for envelope in await open_envelopes(book_log.blobs, envelopes):
                state.apply(envelope)
        return state

    async def books_of(self, user: str, email: str | None = None) -> list[BookState]:
        """Books where `user` is a member; pending invitations for `email` are claimed first."""
        if email:
            await self.claim_invitations(user, email)
        for book in list(self._stale):
            with contextlib.suppress(NotFound):
                await self.state(book)
        return sorted(
            (s for s in self._states.values() if user in s.members), key=lambda s: s.name.lower()
        )

    async def book_of(self, chapter: str) -> str:
        """The book a chapter belongs to (read from the chapter's first event)."""
        book = self._chapter_books.get(chapter)
        if book is None:
            if not is_id(chapter):
                raise NotFound("no such chapter")
            first = await self.logs.chapter(chapter).get(1)
            if first is None:
                raise NotFound("no such chapter")
            body = first.envelope.body
            if not isinstance(body, ChapterCreated | ChapterForked | ChapterMirrored):
                raise NotFound("no such chapter")
            book = self._chapter_books[chapter] = body.book
        return book

    async def chapter_access(self, user: str, chapter: str, action: str = "read") -> ChapterEntry:
        """The chapter if `user` may `action` it, else NotFound (a chapter they cannot see)."""
        try:
            book = await self.book_of(chapter)
        except ChapterNotFound:
            raise NotFound("no such chapter") from None
        state = await self.state(book)
        if chapter not in state.chapters:
            state = await self.state(book, fresh=True)
        return state.check_chapter(user, chapter, action)  # type: ignore[arg-type]

    # -- commands -----------------------------------------------------------------------------

    async def _decide(
        self,
        book: str,
        actor: str,
        decide: Callable[[BookState], Sequence[Body]],
        stored: list[Body] | None = None,
    ) -> BookState:
        """Append what `decide` returns for the current state, retrying on a lost race; the
        bodies as the log stored them go to `stored` (a client's retried write stores nothing
        new: the log answers with what its first attempt stored)."""
        for _ in range(_MAX_TRIES):
            state = await self.state(book, fresh=True)
            bodies = decide(state)
            if not bodies:
                return state
            try:
                book_log = self.logs.book(book)
                for i, body in enumerate(bodies):
                    recorded = await book_log.append(body, actor=actor, expected_rev=state.rev + i)
                    if stored is not None:
                        stored.append(recorded.envelope.body)
            except RevisionConflict:
                if stored is not None:
                    stored.clear()
                continue
            return await self.state(book, fresh=True)
        raise Conflict("the book is changing too fast; try again")

    async def create_book(self, owner: str, owner_email: str, name: str) -> BookState:
        """A new book owned by `owner`, who is its first member."""
        name = name.strip()
        if not name:
            raise Invalid("a book needs a name")
        events: list[Body] = [
            # The owner's e-mail is in the `MemberAdded` (sealed on its own): were it sealed
            # with the name, erasing the creator would erase the name of a team's book.
            BookCreated(name=name, owner=owner),
            MemberAdded(user=owner, email=owner_email, role="owner"),
        ]
        keyed = keyed_id(owner, "book")
        if keyed is None:
            book = new_id()
            book_log = self.logs.book(book)
            await book_log.create()
            await book_log.append_many(events, actor=owner)
            return await self.state(book, fresh=True)
        # A client's retried write (its Idempotency-Key): the book's id comes from the key, so
        # the retry meets the log its first attempt made; each event goes at its own rev, and one
        # that is there already was stored by that attempt (or by a twin racing this one).
        book_log = self.logs.book(keyed)
        await book_log.ensure()
        for rev, body in enumerate(events):
            with contextlib.suppress(RevisionConflict):
                await book_log.append(body, actor=owner, expected_rev=rev)
        return await self.state(keyed, fresh=True)

    async def add_member(
        self, actor: str, book: str, email: str, role: Role, user: str | None
    ) -> BookState:
        """Invite `email` as `role`; `user` is their account id, or None to invite by e-mail."""
        key = user or invite_key()

        def decide(state: BookState) -> list[Body]:
            state.check_new_member(actor, email, role)
            return [MemberAdded(user=key, email=email.strip().lower(), role=role)]

        return await self._decide(book, actor, decide)

    async def claim_invitations(self, user: str, email: str) -> None:
        """Turn invitations sent to `email` into memberships of `user`."""
        email = email.strip().lower()

        def invitation(state: BookState) -> str | None:
            return next(
                (
                    key
                    for key, member in state.members.items()
                    if key.startswith(INVITE_PREFIX) and member.email == email
                ),
                None,
            )

        for state in list(self._states.values()):
            if invitation(state) is None:
                continue

            def decide(state: BookState) -> list[Body]:
                key = invitation(state)
                invite = state.members.get(key) if key is not None else None
                if key is None or invite is None or user in state.members:
                    return []
                return [
                    MemberAdded(user=user, email=invite.email, role=invite.role),
                    MemberRemoved(user=key),
                ]

            await self._decide(state.id, user, decide)

    async def remove_member(self, actor: str, book: str, user: str) -> BookState:
        """Remove `user`; their chapters go to the owner, so nothing is orphaned."""

        def decide(state: BookState) -> list[Body]:
            key = member_key(state, user)
            state.check_removal(actor, key)
            moves: list[Body] = [
                ChapterReassigned(chapter=c, assignee=state.owner) for c in state.chapters_of(key)
            ]
            return [*moves, MemberRemoved(user=key)]

        return await self._decide(book, actor, decide)

    async def change_role(self, actor: str, book: str, user: str, role: Role) -> BookState:
        """Change a member's role (ownership transfers demote the old owner to admin)."""

        def decide(state: BookState) -> list[Body]:
            state.check_role_change(actor, user, role)
            if role == "owner":
                return [RoleChanged(user=user, role="owner"), RoleChanged(user=actor, role="admin")]
            return [RoleChanged(user=user, role=role)]

        return await self._decide(book, actor, decide)

    async def set_policy(self, actor: str, book: str, *, external_sharing: bool) -> BookState:
        """Allow or forbid sharing chapters outside the book."""

        def decide(state: BookState) -> list[Body]:
            state.require_admin(actor)
            if state.external_sharing == external_sharing:
                return []
            return [PolicyChanged(external_sharing=external_sharing)]

        return await self._decide(book, actor, decide)

    async def create_chapter(
        self, actor: str, book: str, title: str, assignee: str | None = None
    ) -> ChapterEntry:
        """A new chapter in `book`, assigned to `assignee` (default: the actor)."""
        title = title.strip() or "Untitled"
        assignee = assignee or actor
        state = await self.state(book, fresh=True)
        state.require_member(actor)
        if assignee != actor:
            state.require_admin(actor)
        state.check_assignee(assignee)
        chapter = new_id()
        chapter_log = self.logs.chapter(chapter)
        await chapter_log.create()
        await chapter_log.append(
            ChapterCreated(book=book, title=title), actor=actor, expected_rev=0
        )
        self._chapter_books[chapter] = book

        def decide(state: BookState) -> list[Body]:
            state.require_member(actor)
            state.check_assignee(assignee)
            return [ChapterRegistered(chapter=chapter, assignee=assignee, title=title)]

        stored: list[Body] = []
        state = await self._decide(book, actor, decide, stored)
        registered = stored[-1] if stored else None
        if isinstance(registered, ChapterRegistered) and registered.chapter != chapter:
            # A client's retry (Idempotency-Key): the book registered the chapter its first
            # attempt made, and that is the answer. This attempt's log stays in no book.
            chapter = registered.chapter
        return state.chapters[chapter]

    async def start_chapter(
        self, book: str, first: ChapterForked | ChapterMirrored, *, actor: str
    ) -> str:
        """A new chapter log whose first event is `first` (a copy or a mirror of a shared
        chapter), not yet in the book: `register_shared` shows it once it is complete."""
        if first.book != book:
            raise Invalid("the chapter's first event must name its book")
        chapter = new_id()
        chapter_log = self.logs.chapter(chapter)
        await chapter_log.create()
        await chapter_log.append(first, actor=actor, expected_rev=0)
        self._chapter_books[chapter] = book
        return chapter

    async def register_shared(
        self, actor: str, book: str, chapter: str, title: str, *, share: str | None
    ) -> ChapterEntry:
        """Put a copy or a mirror of a shared chapter into `book`, assigned to `actor`."""

        def decide(state: BookState) -> list[Body]:
            state.require_member(actor)
            return [ChapterRegistered(chapter=chapter, assignee=actor, title=title, share=share)]

        self._chapter_books[chapter] = book
        state = await self._decide(book, actor, decide)
        return state.chapters[chapter]

    async def drop_shared(self, book: str, chapter: str, *, actor: str) -> None:
        """Take a mirror out of its book because its share ended (the share's rules decided,
        not a member: `actor` is the process that noticed). Only chapters of a share go."""

        def decide(state: BookState) -> list[Body]:
            entry = state.chapters.get(chapter)
            if entry is None:
                return []
            if entry.share is None:
                raise Conflict("only a shared chapter leaves its book when its share ends")
            return [ChapterDeleted(chapter=chapter)]

        await self._decide(book, actor, decide)

    async def set_plan(
        self, actor: str, actor_email: str, book: str, plan: Plan, *, operators: Iterable[str]
    ) -> BookState:
        """Put the book on `plan`. Only the server's operators (`operators`: their e-mail
        addresses, from the settings) decide this; to anyone else the command does not exist
        (NotFound), as the route does not."""
        if actor_email.strip().lower() not in {e.strip().lower() for e in operators}:
            raise NotFound("no such route")
        if plan not in ("free", "paid"):
            raise Invalid(f"unknown plan {plan!r}: use free or paid")

        def decide(state: BookState) -> list[Body]:
            return [] if state.plan == plan else [PlanChanged(plan=plan)]

        return await self._decide(book, f"operator:{actor}", decide)

    async def rename_chapter(self, actor: str, chapter: str, title: str) -> int:
        """Rename a chapter (assignee or admins); returns the rev of the rename in its log."""
        await self.chapter_access(actor, chapter, "manage")
        title = title.strip()
        if not title:
            raise Invalid("a chapter needs a title")
        recorded = await self.logs.chapter(chapter).append(ChapterRenamed(title=title), actor=actor)
        return recorded.rev

    async def reassign_chapter(self, actor: str, chapter: str, assignee: str) -> ChapterEntry:
        """Give a chapter to another member (owner and admins only)."""
        book = await self.book_of(chapter)

        def decide(state: BookState) -> list[Body]:
            state.require_admin(actor)
            state.check_chapter(actor, chapter, "manage")
            state.check_assignee(assignee)
            if state.chapters[chapter].assignee == assignee:
                return []
            return [ChapterReassigned(chapter=chapter, assignee=assignee)]

        state = await self._decide(book, actor, decide)
        return state.chapters[chapter]

    async def delete_chapter(self, actor: str, chapter: str) -> None:
        """Take a chapter out of its book; its log stays for audit."""
        book = await self.book_of(chapter)

        def decide(state: BookState) -> list[Body]:
            entry = state.check_chapter(actor, chapter, "manage")
            if not state.is_admin(actor) and entry.assignee != actor:
                raise Forbidden("only the chapter's assignee and admins may delete it")
            return [ChapterDeleted(chapter=chapter)]

        await self._decide(book, actor, decide)
