"""Reading a shared chapter as a direct guest: Direct Get to catch up, the live subject to follow.

A direct guest may not create consumers (engine/guests.py), so it reads the way its permissions
allow: it subscribes to the chapter's live subject `rs.live.<chapter>` FIRST (buffering what
arrives), then fetches every stored event after its position by Direct Get until there is none,
then takes the buffered and later live events in order, skipping those it already has. A gap (a
live event past the next rev: one was lost, or the connection dropped and came back) is filled
by Direct Get again. While nothing arrives it asks now and then whether an event is stored that
it missed. So events come out in order, with no gaps and no duplicates.

Every event's hash chain is checked (`events.chain.ChainCheck`) before it is yielded: a broken
one raises `ChainBroken` naming its rev and is never yielded. Losing the credentials (the share
revoked, or re-issued to a newer connection) raises `AccessRevoked`, so a follower can remove its
mirror; an unreachable server is waited for (reconnecting forever), like the engine's own reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import nats.errors
from nats.aio.msg import Msg

from engine.errors import ChainBroken, LogError, LogUnavailable
from engine.nats import (
    DESCRIPTION_HEADER,
    JS_API,
    NATS,
    STATUS_HEADER,
    chapter_live_subject,
    chapter_stream,
    hash_of_headers,
    open_nats,
    sequence_of_headers,
    trusting,
)
from engine.shares import NatsGrant
from events import RecordedEvent
from events.chain import ChainCheck
from rust_core import GENESIS

__all__ = ["AccessRevoked", "follow_direct"]

_WINDOW = 64
"""Direct Gets in flight at once while catching up."""


class AccessRevoked(LogError):
    """The owner's server no longer lets these credentials read the chapter (revoked share)."""

    code = "access_revoked"


class _Wake:
    """Queued beside live messages: the connection came back, or access was lost."""

    __slots__ = ("revoked",)

    def __init__(self, revoked: str | None = None) -> None:
        self.revoked = revoked


async def follow_direct(
    grant: NatsGrant,
    chapter: str,
    *,
    after: int = 0,
    prev: bytes | None = None,
    follow: bool = True,
    idle_check_s: float = 2.0,
    connect_timeout: float = 10.0,
) -> AsyncIterator[RecordedEvent]:
    """The chapter's events after rev `after`, checked, in order; with `follow`, forever.

    `prev` is the chain hash at `after` (the follower's head); None at `after=0` is the genesis,
    and None later takes the owner's stored hash at `after` on trust. Without `follow` the read
    ends at the head as it is when the catch-up finds no more.
    """
    queue: asyncio.Queue[Msg | _Wake] = asyncio.Queue()
    lost: list[str] = []  # why access was lost, once it was
    lost_event: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def lose(reason: str) -> None:
        lost.append(reason)
        if not lost_event.done():
            lost_event.set_result(None)
        queue.put_nowait(_Wake(revoked=reason))

    async def on_error(exc: Exception) -> None:
        # Only what the reader itself does can be refused, and it asks only what its grant
        # allowed: a refusal means the grant changed (revoked, or re-issued to a newer connect).
        text = str(exc).lower()
        if "authorization" in text or "authentication" in text or "permissions" in text:
            lose(str(exc))

    async def on_reconnected() -> None:
        queue.put_nowait(_Wake())

    async def on_closed() -> None:
        if not closing:
            lose(f"the server closed the connection ({nc.last_error!r})")

    closing = False

    try:
        nc = await open_nats(
            grant.url,
            grant.user,
            grant.password,
            name=f"ragstack-guest-{chapter}",
            inbox_prefix=grant.inbox_prefix,
            tls=trusting(grant.certificate) if grant.tls() else None,
            connect_timeout=connect_timeout,
            reconnect_time_wait=0.2,
            error_cb=on_error,
            reconnected_cb=on_reconnected,
            closed_cb=on_closed,
        )
    except LogUnavailable as exc:
        if "refused the credentials" in str(exc):
            raise AccessRevoked(
                f"the owner's server refused the share's credentials: {exc}"
            ) from None
        raise

    async def on_live(msg: Msg) -> None:
        queue.put_nowait(msg)

    reader = _Reader(nc, chapter, lost, lost_event)
    try:
        await nc.subscribe(chapter_live_subject(chapter), cb=on_live)
        await nc.flush(timeout=connect_timeout)  # subscribed before catching up: nothing between
        if prev is None:
            prev = GENESIS if after == 0 else await reader.hash_at(after)
        check = ChainCheck(chapter, prev=prev, start_rev=after + 1)
        next_rev, behind = after + 1, True
        while True:
            if behind:
                # Catch up from `next_rev`: at the start, after a gap or a reconnect, when quiet.
                async for event in reader.catch_up(next_rev):
                    _verify(check, event)
                    next_rev = event.rev + 1
                    yield event
                if not follow:
                    return
                behind = False
            item = await _next(queue, nc, idle_check_s)
            if isinstance(item, _Wake) and item.revoked is not None:
                raise AccessRevoked(f"access to {chapter} was withdrawn: {item.revoked}")
            if item is None or isinstance(item, _Wake):
                behind = True  # quiet for a while, or reconnected: ask what is stored
                continue
            rev = sequence_of_headers(item.headers)
            if rev != next_rev:
                # Before it: already had it from the catch-up. Past it: one went missing.
                behind = rev > next_rev
                continue
            event = RecordedEvent(rev=rev, hash=hash_of_headers(item.headers), payload=item.data)
            _verify(check, event)
            next_rev = rev + 1
            yield event
    finally:
        closing = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=2)


async def _next(
    queue: asyncio.Queue[Msg | _Wake], nc: NATS, idle_check_s: float
) -> Msg | _Wake | None:
    """The next live message or wake-up; None after `idle_check_s` of quiet (check for misses)."""
    while True:
        try:
            return await asyncio.wait_for(queue.get(), timeout=idle_check_s)
        except TimeoutError:
            if nc.is_connected:
                return None
            # Reconnecting (the owner's server restarting): keep waiting.


def _verify(check: ChainCheck, event: RecordedEvent) -> None:
    if not check.feed([event.payload], [event.hash]):
        assert check.bad_rev is not None and check.reason is not None
        raise ChainBroken(check.chapter, check.bad_rev, check.reason)


class _Reader:
    """Direct Gets on the chapter's stream over the guest's connection."""

    def __init__(
        self, nc: NATS, chapter: str, lost: list[str], lost_event: asyncio.Future[None]
    ) -> None:
        self.nc = nc
        self.chapter = chapter
        self.lost = lost
        self.lost_event = lost_event
        self.subject = f"{JS_API}.DIRECT.GET.{chapter_stream(chapter)}"

    async def catch_up(self, start: int) -> AsyncIterator[RecordedEvent]:
        """Stored events from `start` until the first rev with none; requests in flight double
        from one (a quiet chapter costs one request) up to `_WINDOW`."""
        rev, window = start, 1
        while True:
            got = await asyncio.gather(*(self.get(rev + i) for i in range(window)))
            for event in got:
                if event is None:
                    return
                yield event
                rev += 1
            window = min(window * 2, _WINDOW)

    async def hash_at(self, rev: int) -> bytes:
        """The stored chain hash at `rev` (which must exist)."""
        event = await self.get(rev)
        if event is None:
            raise LogError(f"the shared chapter {self.chapter} has no rev {rev}")
        return event.hash

    async def get(self, rev: int) -> RecordedEvent | None:
        """The event at `rev`, None when there is none; retried while the server is away."""
        request = json.dumps({"seq": rev}).encode()
        while True:
            if self.lost:
                raise AccessRevoked(f"access to {self.chapter} was withdrawn: {self.lost[0]}")
            asking = asyncio.ensure_future(self.nc.request(self.subject, request, timeout=5))
            await asyncio.wait({asking, self.lost_event}, return_when=asyncio.FIRST_COMPLETED)
            if not asking.done():  # access lost while waiting (requests queue while offline)
                asking.cancel()
                continue
            try:
                msg = asking.result()
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                await asyncio.sleep(0.2)  # JetStream restarting, or a permission just withdrawn
                continue
            except nats.errors.ConnectionClosedError:
                await asyncio.sleep(0.05)  # closed by the server: `lost` says why at the top
                continue
            status = (msg.headers or {}).get(STATUS_HEADER) if not msg.data else None
            if status == "404":
                return None
            if status:
                description = (msg.headers or {}).get(DESCRIPTION_HEADER, "")
                raise LogError(f"reading the shared chapter {self.chapter}: {status} {description}")
            return RecordedEvent(
                rev=sequence_of_headers(msg.headers),
                hash=hash_of_headers(msg.headers),
                payload=msg.data,
            )
