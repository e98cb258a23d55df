"""Signing chapter heads: on request, and by the worker after changes.

`HeadSigner` runs where projections fold (roles all and worker). It watches every chapter's
stored events (the streams republish each on `rs.live.<chapter>`); an event that is not a
`HeadSigned` is a change. A chapter whose last change is `quiet_s` old, or that has gathered
`every` changes since its last signature, gets a new `HeadSigned` (engine/keys.py,
`BookKeys.sign_head`). The `HeadSigned` itself is no change, so signing never loops; a signature
made on request meanwhile counts too.

Only chapters registered in their book are signed (a copy or mirror still being written is not,
and a mirror never: its follower appends the owner's facts). Changes are remembered in memory:
after a restart, a chapter is signed at its next change. With several workers every one watches
every chapter, but only the chapter's lease holder signs (`owns`, the runner's `holds`): else two
workers would sign the same head twice (harmless) and race rotations (see engine/keys.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec

from engine.books import Books
from engine.errors import EngineError
from engine.keys import BookKeys
from events import ChapterMirrored, HeadSigned, RecordedEvent, decode_body

__all__ = ["EVERY_EVENTS", "QUIET_S", "SIGNER_ACTOR", "HeadSigner"]

log = logging.getLogger(__name__)

SIGNER_ACTOR = "proc:signer"
"""The actor of the heads the worker signs."""
QUIET_S = 10.0
"""Sign a chapter once it has had no change for this long... (10 s rather than 2: a burst of
work, an upload and its extraction or a question and its answer, gets one signature, not one per
pause, and a reader who just looked at the head rarely sees it move under them)"""
EVERY_EVENTS = 1000
"""...or once it has gathered this many changes since its last signature."""


class _Stamp(msgspec.Struct):
    rev: int
    body: msgspec.Raw


class _Tag(msgspec.Struct):
    type: str


_stamp = msgspec.msgpack.Decoder(_Stamp)
_tag = msgspec.msgpack.Decoder(_Tag)


@dataclass
class _Pending:
    rev: int
    """The last change's rev."""
    last: float
    """When it was seen (monotonic seconds)."""
    count: int = 1
    """Changes since the last signature."""


class HeadSigner:
    """The worker's signer; `start()` it, `stop()` it (see the module docstring)."""

    def __init__(
        self,
        books: Books,
        keys: BookKeys,
        *,
        quiet_s: float = QUIET_S,
        every: int = EVERY_EVENTS,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self.books = books
        self.owns = owns
        """Whether this process signs a chapter now (its lease); None: every chapter."""
        self.keys = keys
        self.quiet_s = quiet_s
        self.every = every
        self._pending: dict[str, _Pending] = {}
        # Changes counted toward `every` by an attempt that signed nothing (the head moved under
        # it): the next change carries them, else a busy chapter would restart its count at 1 and
        # wait `quiet_s` instead of being signed after `every` changes.
        self._carried: dict[str, int] = {}
        self._skip: set[str] = set()  # mirrors: never signed here
        self._unwatch: Callable[[], Awaitable[None]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Watch every chapter's stored events and sign in the background."""
        self._unwatch = await self.books.logs.watch_chapters(self._on_event)
        self._task = asyncio.create_task(self._run(), name="head-signer")

    async def stop(self) -> None:
        """Stop watching and signing."""
        if self._unwatch is not None:
            await self._unwatch()
            self._unwatch = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _on_event(self, chapter: str, payload: bytes) -> None:
        if chapter in self._skip:
            return
        try:
            stamp = _stamp.decode(payload)
            tag = _tag.decode(stamp.body).type
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        pending = self._pending.get(chapter)
        if tag == "HeadSigned":
            body = decode_body(bytes(stamp.body))
            if isinstance(body, HeadSigned):
                self._carried.pop(chapter, None)
                if pending is not None and body.rev >= pending.rev:
                    del self._pending[chapter]  # signed (on request, or by us): nothing new
            return
        now = time.monotonic()
        if pending is None:
            count = 1 + self._carried.pop(chapter, 0)
            self._pending[chapter] = _Pending(rev=stamp.rev, last=now, count=count)
        else:
            pending.rev, pending.last = max(pending.rev, stamp.rev), now
            pending.count += 1

    def _due(self) -> list[str]:
        now = time.monotonic()
        return [
            chapter
            for chapter, p in self._pending.items()
            if now - p.last >= self.quiet_s or p.count >= self.every
        ]

    async def _run(self) -> None:
        tick = min(0.5, self.quiet_s / 2) if self.quiet_s > 0 else 0.05
        while True:
            await asyncio.sleep(tick)
            for chapter in self._due():
                pending = self._pending.pop(chapter)
                if self.owns is not None and not self.owns(chapter):
                    continue  # its lease holder, which saw the same change, signs it
                try:
                    if await self.sign(chapter) is None and chapter not in self._skip:
                        self._carry(chapter, pending.count)
                except asyncio.CancelledError:
                    raise
                except EngineError as exc:
                    log.info("chapter %s: head not signed: %s", chapter, exc)
                except Exception:
                    log.exception("chapter %s: signing its head failed", chapter)

    def _carry(self, chapter: str, count: int) -> None:
        moved = self._pending.get(chapter)
        if moved is not None:  # the change that moved the head arrived while signing
            moved.count += count
        else:
            self._carried[chapter] = count

    async def sign(self, chapter: str) -> RecordedEvent | None:
        """Sign the chapter's head now if it is a chapter of a book and its head is a change."""
        book = await self.books.book_of(chapter)
        state = await self.books.state(book)
        if chapter not in state.chapters:
            state = await self.books.state(book, fresh=True)
            if chapter not in state.chapters:
                return None  # being copied, or deleted
        first = await self.keys.logs.chapter(chapter).get(1)
        if first is not None and isinstance(first.envelope.body, ChapterMirrored):
            self._skip.add(chapter)
            return None
        return await self.keys.sign_head(SIGNER_ACTOR, chapter, by_process=True)
