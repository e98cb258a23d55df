"""`ragstack follow`: keep a replica (client/replica.py) in step with a shared chapter.

It connects with the share's token (`POST /v1/shares/{token}/connect`), binds the replica to
that share and chapter (a replica made for another is refused), then:

- **proxied**: asks the feed for what came after the owner's rev the replica stands at, fetches
  the texts the batch needs (each blob's BLAKE3 must be its name), applies the batch whole, and
  waits for the next tick (`next_tick_at`);
- **direct**: reads the owner's stream over NATS with the credentials the connect issued, in
  the guest's own inbox: catch-up by Direct Get (`$JS.API.DIRECT.GET.<stream>` `{"seq": n}`,
  a window of requests at a time), then the live republish subject `rs.live.<chapter>`, whose
  messages carry `Nats-Sequence` and `Rs-Hash`. Every event is chain-checked before it is
  applied (client/replica.py); a gap in the live stream is filled by Direct Get.

Everything synced is persisted as it is applied, so a follower that stops (Ctrl-C, the network
gone) resumes where it stood. `once` does one catch-up and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from client.aio_guest import AsyncShareClient
from client.errors import ApiError
from client.models_shares import ShareConnection
from client.replica import Replica
from client.replica_rows import (
    FollowError,
    ReplicaError,
    decode_bodies,
    personal_needed,
    texts_needed,
)
from events import Body, RecordedEvent, decode

__all__ = [
    "FollowError",
    "Following",
    "Progress",
    "ReplicaError",
    "Synced",
    "follow",
    "follow_direct",
    "follow_proxied",
    "proxied_step",
    "recorded",
]

LIVE_PREFIX = "rs.live."
"""A chapter's stream republishes each stored event on `rs.live.<chapter>` (engine/nats.py)."""
DIRECT_WINDOW = 64
"""Direct Get requests in flight at once during catch-up."""
REQUEST_TIMEOUT_S = 10.0
MIN_WAIT_S = 1.0
OFFLINE_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)


class Synced(msgspec.Struct, frozen=True, kw_only=True):
    """Where a replica stands after a step of following."""

    share: str
    chapter: str
    title: str
    mode: str
    rev: int
    """The owner's rev the replica stands at."""
    head: str
    applied: int = 0
    """Events applied in this step."""
    sources: int = 0
    """Sources (not removed) the replica holds."""
    offline: str | None = None
    """Why the last attempt did not reach the owner, while retrying."""


Progress = Callable[[Synced], None]


async def _texts(guest: AsyncShareClient, names: Iterable[str]) -> dict[str, str]:
    # share_blob checks each blob's BLAKE3 against its name (BlobMismatch otherwise).
    texts: dict[str, str] = {}
    for name in names:
        texts[name] = (await guest.share_blob(name)).decode("utf-8", errors="replace")
    return texts


async def _personal(guest: AsyncShareClient, names: Iterable[str]) -> dict[str, bytes | None]:
    # Personal blobs (docs/log-format.md, "Erasure"); one the owner erased reads as erased.
    found: dict[str, bytes | None] = {}
    for name in names:
        try:
            found[name] = await guest.share_blob(name)
        except ApiError as exc:
            if exc.status != 404:
                raise
            found[name] = None
    return found


@dataclass(frozen=True, kw_only=True)
class Following:
    """One follower's work: the owner's server, the share it opened, the replica it feeds, and
    whom it tells where it stands."""

    guest: AsyncShareClient
    conn: ShareConnection
    replica: Replica
    once: bool = False
    """One catch-up, then return."""
    progress: Progress | None = None

    async def synced(self, applied: int, **extra: Any) -> Synced:
        """Where the replica stands, after `applied` events; told to `progress`."""
        conn, replica = self.conn, self.replica
        synced = Synced(
            share=conn.share, chapter=conn.chapter, title=replica.meta.get("title", conn.title),
            mode=conn.mode, rev=replica.rev, head=replica.head, applied=applied,
            sources=len(await replica.sources()), **extra,
        )  # fmt: skip
        if self.progress is not None:
            self.progress(synced)
        return synced


async def follow(
    url: str,
    token: str,
    directory: Path | Callable[[ShareConnection], Path],
    *,
    once: bool = False,
    progress: Progress | None = None,
) -> Synced:
    """Follow the share `token` opens on the server at `url` into the replica in `directory`
    (or the folder `directory(connection)` names); with `once`, one catch-up. Returns where the
    replica stands when it stops."""
    async with AsyncShareClient(url, token) as guest:
        conn = await guest.connect()
        if conn.mode == "copy":
            raise FollowError(
                "a copy share is a snapshot, not a live chapter: accept it into a book with "
                "`ragstack shares accept TOKEN` instead of following it",
                code="copy_share",
            )
        where = directory if isinstance(directory, Path) else directory(conn)
        async with await Replica.open(where) as replica:
            await replica.bind(
                share=conn.share, chapter=conn.chapter, mode=conn.mode, title=conn.title,
                server=url, scope=conn.scope,
            )  # fmt: skip
            following = Following(
                guest=guest, conn=conn, replica=replica, once=once, progress=progress
            )
            if conn.mode == "direct":
                return await follow_direct(following)
            return await follow_proxied(following)


# --- proxied ---


async def proxied_step(guest: AsyncShareClient, replica: Replica) -> tuple[int, int | None]:
    """One feed batch applied (or refused, with nothing applied): how many events, and when
    the next tick comes (unix ms, if the feed says)."""
    batch = await guest.feed(after=replica.rev)
    replica.check_batch(
        share=batch.share, chapter=batch.chapter, after=batch.after, rev=batch.rev,
        head=batch.head, snapshot=batch.snapshot,
    )  # fmt: skip
    if batch.rev == replica.rev and not batch.events and not batch.snapshot:
        return 0, batch.next_tick_at
    bodies = decode_bodies(batch.events)
    texts = await _texts(guest, texts_needed(bodies))
    personal = await _personal(guest, personal_needed(bodies))
    applied = await replica.apply_batch(
        share=batch.share, chapter=batch.chapter, after=batch.after, rev=batch.rev,
        head=batch.head, snapshot=batch.snapshot, bodies=bodies, texts=texts, personal=personal,
    )  # fmt: skip
    return applied, batch.next_tick_at


async def follow_proxied(following: Following) -> Synced:
    """Apply the feed's batches tick after tick (one with `once`), riding out an owner offline."""
    failures = 0
    while True:
        try:
            applied, next_tick = await proxied_step(following.guest, following.replica)
            failures = 0
        except ApiError as exc:
            if following.once or exc.status not in (0, 502, 503, 504):
                raise
            # Offline, or the owner's server restarting: the replica keeps what it has.
            wait = OFFLINE_RETRY_S[min(failures, len(OFFLINE_RETRY_S) - 1)]
            failures += 1
            await following.synced(0, offline=exc.message)
            await asyncio.sleep(wait)
            continue
        synced = await following.synced(applied)
        if following.once:
            return synced
        interval = float(following.conn.interval_s or 60)
        wait = interval if next_tick is None else next_tick / 1000 - time.time()
        await asyncio.sleep(min(max(wait, MIN_WAIT_S), interval))


# --- direct ---


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def recorded(payload: bytes, headers: dict[str, str] | None) -> RecordedEvent | None:
    """A stored event from a Direct Get reply or a live message; None for a reply that holds
    no message (status 404: past the end)."""
    status = _header(headers, "Status")
    if status is not None and status != "200":
        if status == "404":
            return None
        raise FollowError(f"the owner's server answered a read with status {status}")
    seq, digest = _header(headers, "Nats-Sequence"), _header(headers, "Rs-Hash")
    if seq is None or digest is None:
        raise FollowError("a message of the owner's stream lacks Nats-Sequence or Rs-Hash")
    try:
        return RecordedEvent(rev=int(seq), hash=bytes.fromhex(digest), payload=payload)
    except ValueError:
        raise FollowError(
            f"a message's Nats-Sequence/Rs-Hash does not parse ({seq}, {digest})"
        ) from None


def _bodies(events: Sequence[RecordedEvent]) -> list[Body]:
    bodies: list[Body] = []
    for event in events:
        with contextlib.suppress(ValueError):  # an undecodable one: the chain check names it
            bodies.append(decode(event.payload).body)
    return bodies


def _needed(events: Sequence[RecordedEvent]) -> list[str]:
    return texts_needed(_bodies(events))


async def _apply_direct(
    guest: AsyncShareClient, replica: Replica, events: Sequence[RecordedEvent]
) -> int:
    texts = await _texts(guest, _needed(events))
    personal = await _personal(guest, personal_needed(_bodies(events)))
    return await replica.apply_events(events, texts, personal=personal)


async def follow_direct(following: Following) -> Synced:
    """Catch up by Direct Get, then apply the live republish (only the catch-up with `once`)."""
    import nats  # the NATS client is needed only here
    from nats.errors import Error as NatsError

    guest, conn, replica, once = following.guest, following.conn, following.replica, following.once
    creds = conn.nats
    if creds is None or not conn.stream:
        raise FollowError("the owner's server issued no NATS credentials for this direct share")
    # The stream republishes what it stored here; `conn.subject` is where events are stored
    # (rs.ch.<id>), which a guest may not subscribe to: it would see rejected publishes too.
    live_subject = conn.live_subject or f"{LIVE_PREFIX}{conn.chapter}"
    direct_get = f"$JS.API.DIRECT.GET.{conn.stream}"
    live: asyncio.Queue[RecordedEvent] = asyncio.Queue()

    async def on_live(msg: Any) -> None:
        event = recorded(msg.data, msg.headers)
        if event is not None:
            live.put_nowait(event)

    async def get(nc: Any, rev: int) -> RecordedEvent | None:
        reply = await nc.request(
            direct_get, json.dumps({"seq": rev}).encode(), timeout=REQUEST_TIMEOUT_S
        )
        return recorded(reply.data, reply.headers)

    async def catch_up(nc: Any, until: int | None = None) -> int:
        applied = 0
        while until is None or replica.rev < until:
            start = replica.rev + 1
            window = range(start, start + DIRECT_WINDOW)
            got = await asyncio.gather(*(get(nc, rev) for rev in window))
            events = [e for e in got if e is not None]
            if events:
                applied += await _apply_direct(guest, replica, events)
            if len(events) < DIRECT_WINDOW:
                return applied
        return applied

    try:
        nc = await nats.connect(
            creds.url, user=creds.user, password=creds.password,
            inbox_prefix=creds.inbox_prefix.encode(), allow_reconnect=not once, tls=creds.tls(),
            max_reconnect_attempts=-1, connect_timeout=REQUEST_TIMEOUT_S,
        )  # fmt: skip
    except (NatsError, OSError) as exc:
        raise FollowError(f"cannot reach the owner's NATS at {creds.url}: {exc}") from None
    try:
        # Subscribe first, so nothing appended during catch-up is missed.
        sub = await nc.subscribe(live_subject, cb=on_live)
        synced = await following.synced(await catch_up(nc))
        if once:
            await sub.unsubscribe()
            return synced
        while True:
            event = await live.get()
            if event.rev <= replica.rev:
                continue
            if event.rev > replica.rev + 1:
                await catch_up(nc, until=event.rev - 1)  # a gap: read what the live side missed
            count = await _apply_direct(guest, replica, [event])
            await following.synced(count)
    except NatsError as exc:
        raise FollowError(f"the owner's NATS refused or dropped the connection: {exc}") from None
    finally:
        await nc.close()
