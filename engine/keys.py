"""A book's Ed25519 signing key, and signing chapter heads with it.

Each book has one current key (events/keys.py: announced by `BookKeyAdded`, replaced by a
`BookKeyRotated` the old key signs). The private key never enters a log: it is kept in the
accounts store as the secret `signing_key.<public hex>` of scope `book:<id>`, which the store seals
with its secret box (AES-256-GCM, engine/accounts/secrets.py), as app/book_llms.py keeps API keys.
A book gets its key when it is created (the books route asks) or on first need.

`sign_head` appends a `HeadSigned` (v2: head and Merkle root, events/heads.py) of the chapter at
its head, with `expected_rev` = that head, so a signature always covers the rev just before it.
The Merkle root comes from a frontier kept per chapter in this process (O(log n) memory), extended
by reading only the events appended since the last signature.

One process signs a chapter at a time here (a lock per book serialises signing and rotating).
With several worker processes, only the chapter's lease holder may sign (issue 12 adds leases);
a head signed by a key rotated away a moment earlier by another process would not verify.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field

from engine.accounts import AccountStore
from engine.books import Books
from engine.errors import ChapterNotFound, RevisionConflict
from engine.log import GENESIS, Logs
from engine.rules import Conflict, NotFound
from events import BookKeyAdded, HeadSigned, RecordedEvent
from events.heads import MerkleFrontier, sign_head
from events.keys import BookKey, KeyHistory, new_private_key, public_key_of, rotation

__all__ = ["KEYS_ACTOR", "SECRET_PREFIX", "BookKeys", "SigningKeyUnavailable"]

KEYS_ACTOR = "proc:keys"
"""The actor of a key announced on first need (not by a person)."""
SECRET_PREFIX = "signing_key."
"""Accounts-store secret name of a private key: this prefix, then the hex public key."""
_TRIES = 5


class SigningKeyUnavailable(Conflict):
    """The book's current key has no private half here (the accounts store or its secret key
    was replaced): restore them; nothing can be signed, not even a rotation, until then."""

    code = "signing_key_unavailable"


def _scope(book: str) -> str:
    return f"book:{book}"


@dataclass
class _Tree:
    """What this process knows of a chapter's chain: the Merkle frontier at `size`, h[size]."""

    size: int = 0
    head: bytes = GENESIS
    frontier: MerkleFrontier = field(default_factory=MerkleFrontier)


class BookKeys:
    """Books' signing keys: their history, creation, rotation, and signing heads."""

    def __init__(self, logs: Logs, books: Books, accounts: AccountStore) -> None:
        self.logs = logs
        self.books = books
        self.accounts = accounts
        self._histories: dict[str, KeyHistory] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._trees: dict[str, _Tree] = {}

    def _lock(self, book: str) -> asyncio.Lock:
        return self._locks.setdefault(book, asyncio.Lock())

    async def history(self, book: str) -> KeyHistory:
        """The book's keys as its log says now (folded from where this process last read)."""
        history = self._histories.get(book)
        if history is None:
            history = KeyHistory(book)
        try:
            async for recorded in self.logs.book(book).read(after=history.rev):
                if recorded.rev > history.rev:  # another reader of this history may be ahead
                    history.apply(recorded.envelope)
        except ChapterNotFound:
            raise NotFound("no such book") from None
        if history.rev == 0:
            raise NotFound("no such book")
        self._histories[book] = history
        return history

    async def history_of_chapter(self, chapter: str) -> KeyHistory:
        """The key history of the chapter's book."""
        return await self.history(await self.books.book_of(chapter))

    async def ensure(self, book: str, *, actor: str = KEYS_ACTOR) -> BookKey:
        """The book's current key, announced first if the book has none."""
        async with self._lock(book):
            return await self._ensure(book, actor)

    async def _ensure(self, book: str, actor: str) -> BookKey:
        for _ in range(_TRIES):
            history = await self.history(book)
            if history.failed:
                raise Conflict(f"the book's key history is broken: {history.reason}")
            if history.current is not None:
                return history.current
            private = new_private_key()
            key = public_key_of(private)
            # The private half is kept before the key is announced: an announced key always
            # has one (an unannounced stored one is harmless).
            await self._keep(book, key, private)
            try:
                await self.logs.book(book).append(
                    BookKeyAdded(key=key), actor=actor, expected_rev=history.rev
                )
            except RevisionConflict:
                await self.accounts.delete_secret(_scope(book), SECRET_PREFIX + key)
        raise Conflict("the book is changing too fast to announce its key; try again")

    async def _keep(self, book: str, key: str, private: bytes) -> None:
        text = base64.b64encode(private).decode("ascii")
        await self.accounts.put_secret(_scope(book), SECRET_PREFIX + key, text)

    async def _private(self, book: str, key: str) -> bytes:
        text = await self.accounts.get_secret(_scope(book), SECRET_PREFIX + key)
        if text is None:
            raise SigningKeyUnavailable(
                f"the private half of book {book}'s signing key {key[:16]}… is not in the "
                "accounts store"
            )
        return base64.b64decode(text)

    async def rotate(self, actor: str, book: str) -> BookKey:
        """Replace the book's key (owner and admins): the old key signs the new one, and its
        private half is forgotten once the rotation is in the log."""
        state = await self.books.state(book, fresh=True)
        state.require_admin(actor)
        async with self._lock(book):
            old = await self._ensure(book, actor)
            old_private = await self._private(book, old.key)
            new_private = new_private_key()
            new = public_key_of(new_private)
            await self._keep(book, new, new_private)
            history = await self.history(book)
            if history.current != old:
                await self.accounts.delete_secret(_scope(book), SECRET_PREFIX + new)
                raise Conflict("the book's key changed meanwhile; try again")
            try:
                await self.logs.book(book).append(
                    rotation(book, old_private, new), actor=actor, expected_rev=history.rev
                )
            except RevisionConflict:
                await self.accounts.delete_secret(_scope(book), SECRET_PREFIX + new)
                raise Conflict("the book changed meanwhile; try again") from None
            await self.accounts.delete_secret(_scope(book), SECRET_PREFIX + old.key)
            current = (await self.history(book)).current
            assert current is not None and current.key == new
            return current

    async def _tree(self, chapter: str, rev: int) -> _Tree:
        """The chapter's Merkle frontier at `rev`, reading only what this process has not."""
        tree = self._trees.get(chapter)
        if tree is None or tree.size > rev:
            tree = _Tree()
        async for batch in self.logs.chapter(chapter).read_batches(after=tree.size, until=rev):
            tree.frontier.extend([e.hash for e in batch])
            tree.size, tree.head = batch[-1].rev, batch[-1].hash
        self._trees[chapter] = tree
        return tree

    async def sign_head(
        self, actor: str, chapter: str, *, by_process: bool = False
    ) -> RecordedEvent | None:
        """Sign the chapter at its head: the `HeadSigned` appended. People must be the book's
        owner or admins; a process (`by_process`, the worker's signer) is not checked, signs
        only when the head is not itself a `HeadSigned`, and gets None instead of a conflict when
        the chapter moves meanwhile (the move is a change that will be signed)."""
        book = await self.books.book_of(chapter)
        if not by_process:
            await self.books.chapter_access(actor, chapter, "read")
            (await self.books.state(book)).require_admin(actor)
        log = self.logs.chapter(chapter)
        async with self._lock(book):
            key = await self._ensure(book, KEYS_ACTOR)
            private = await self._private(book, key.key)
            for _ in range(_TRIES):
                head = await log.head()
                if head.rev == 0:
                    raise NotFound("no such chapter")
                if by_process:
                    last = await log.get(head.rev)
                    if last is not None and isinstance(last.envelope.body, HeadSigned):
                        return None
                tree = await self._tree(chapter, head.rev)
                if tree.size != head.rev or tree.head != head.hash:
                    self._trees.pop(chapter, None)
                    continue
                body = sign_head(
                    private, key.key, chapter, head.rev, head.hex, tree.frontier.root().hex()
                )
                try:
                    return await log.append(body, actor=actor, expected_rev=head.rev)
                except RevisionConflict:
                    if by_process:
                        return None
        raise Conflict("the chapter is changing too fast to sign its head; try again")
