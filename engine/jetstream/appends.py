"""Appends on JetStream: one conditional publish, or atomic batches (nats-server >= 2.12, ADR-50).

A single append carries `Nats-Expected-Last-Sequence`, so it lands exactly after the head it was
hashed against or not at all, and `Nats-Msg-Id`, so a retried publish is stored once.

With `sync_interval: always` every commit is an fsync; a batch of up to 500 events shares one,
which is how an import stays both durable and fast. Each batch is all-or-nothing, and carries
`Nats-Expected-Last-Sequence` on its first message (the only place the server allows it).

Only one batch is in flight at a time. A batch sent before the previous one is acknowledged
could be committed after that one failed, if another writer happened to append exactly as many
events in between: its expectation would hold while its hashes chain onto events that are not
there. Instead the next batch is *prepared* (hashed and framed) while the server commits the
current one, which overlaps our CPU with the server's fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Protocol

import nats.errors
import nats.js.errors

from engine.errors import EventTooLarge, LogError, LogUnavailable
from engine.jetstream.streams import stream_info
from engine.jetstream.wire import Wire
from engine.nats import (
    BATCH_HEADERS,
    ERR_BATCH_DISABLED,
    ERR_WRONG_LAST_SEQUENCE,
    EXPECTED_LAST_SEQUENCE_HEADER,
    HASH_HEADER,
    MSG_ID_HEADER,
    JetStreamContext,
)
from events import RecordedEvent, new_id
from rust_core import chain_fold, chain_link

__all__ = [
    "BATCH_SIZE",
    "AppendTarget",
    "Tip",
    "publish_at",
    "publish_batches",
    "publish_singly",
]

BATCH_SIZE = 500
"""Events per atomic batch (the server allows up to 1,000)."""

_HASH = HASH_HEADER.encode()
_BATCH_ID, _BATCH_SEQ, _BATCH_COMMIT, _EXPECTED = BATCH_HEADERS


class Tip(Protocol):
    """A position in a log: a revision and the chain hash there (a log's head, or an event)."""

    @property
    def rev(self) -> int: ...
    @property
    def hash(self) -> bytes: ...


class AppendTarget(Protocol):
    """What appends need to know of a log (`engine.log.Log` is one)."""

    @property
    def stream(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def js(self) -> JetStreamContext: ...
    @property
    def max_event_bytes(self) -> int: ...
    @property
    def publish_timeout(self) -> float: ...
    @property
    def unavailable_after(self) -> float: ...
    def wire(self) -> Wire: ...
    async def stored_id(self, rev: int) -> str | None: ...
    async def get(self, rev: int) -> RecordedEvent | None: ...


async def publish_at(
    log: AppendTarget,
    event_id: str,
    rev: int,
    payload: bytes,
    link: bytes,
    *,
    msg_id: str | None = None,
) -> RecordedEvent | None:
    """Publish at `rev`; None if another writer got there first. Retries while the outcome is
    unknown (timeouts, a restarting server) with the same bytes and `Nats-Msg-Id` (`msg_id`,
    default the event id). When JetStream has already stored that message id (a client's
    retried write: engine/jetstream/idempotency.py; or this event, its ack lost) it returns
    the event stored then, at its own rev, which may be below `rev`."""
    headers = {
        HASH_HEADER: link.hex(),
        EXPECTED_LAST_SEQUENCE_HEADER: str(rev - 1),
        MSG_ID_HEADER: msg_id or event_id,
    }
    deadline = time.monotonic() + log.unavailable_after
    maybe_stored = False
    while True:
        try:
            # js.publish, not publish_async: a rejected publish_async never resolves (nats-py 2.16).
            ack = await log.js.publish(
                log.subject, payload, timeout=log.publish_timeout, headers=dict(headers)
            )
        except nats.js.errors.APIError as exc:
            if exc.err_code == ERR_WRONG_LAST_SEQUENCE:
                if maybe_stored and await log.stored_id(rev) == event_id:
                    return RecordedEvent(rev=rev, hash=link, payload=payload)
                return None
            if not isinstance(exc, nats.js.errors.ServiceUnavailableError):
                raise LogError(f"JetStream refused an append to {log.stream}: {exc}") from None
            problem: BaseException = exc
        except nats.js.errors.NoStreamResponseError as exc:
            # ChapterNotFound ends it; a stream that does not answer either (its leader is being
            # elected, the server restarting) is retried until the deadline like the publish.
            # Bounded by the publish timeout: the stream's info waits on the leader too.
            with contextlib.suppress(LogUnavailable, TimeoutError):
                await asyncio.wait_for(stream_info(log.js, log.stream), log.publish_timeout)
            problem = exc
        except nats.errors.MaxPayloadError:
            raise EventTooLarge(len(payload), log.max_event_bytes) from None
        except nats.errors.ConnectionClosedError:
            raise LogUnavailable("the NATS connection is closed") from None
        except (nats.errors.TimeoutError, nats.errors.OutboundBufferLimitError) as exc:
            maybe_stored = True  # the ack may be lost while the append was stored
            problem = exc
        else:
            if ack.duplicate and ack.seq != rev:
                # Stored before, at another rev: a client's retried write, or our own publish
                # whose ack was lost before a conflict made us re-encode it for a later rev.
                return await _stored_event(log, ack.seq)
            if ack.seq != rev:
                raise LogError(f"{log.stream} stored event {event_id} at {ack.seq}, not {rev}")
            return RecordedEvent(rev=rev, hash=link, payload=payload)
        if time.monotonic() > deadline:
            raise LogUnavailable(f"appending to {log.stream} failed: {problem!r}")
        await asyncio.sleep(0.1)


async def _stored_event(log: AppendTarget, rev: int) -> RecordedEvent:
    """The event stored at `rev` (a de-duplicated publish's original), with its stored hash."""
    stored = await log.get(rev)
    if stored is None:
        raise LogError(f"{log.stream} reported a duplicate at {rev}, but holds nothing there")
    return stored


async def publish_singly(
    log: AppendTarget, head: Tip, ids: list[str], payloads: list[bytes], done: list[RecordedEvent]
) -> None:
    """For a stream without atomic batches (made elsewhere): `payloads[len(done):]`, encoded for
    the revisions after `head`, one conditional append each, appended to `done`; stops at a
    conflict."""
    tip = head
    for i in range(len(done), len(payloads)):
        link = chain_link(tip.hash, payloads[i])
        stored = await publish_at(log, ids[i], tip.rev + 1, payloads[i], link)
        if stored is None:
            return
        done.append(stored)
        tip = stored


class _Prepared:
    """One batch, hashed after `tip` and framed for the wire."""

    def __init__(self, tip: Tip, payloads: list[bytes], start: int) -> None:
        self.start = start
        hashes = chain_fold(tip.hash, payloads)
        self.events = [
            RecordedEvent(rev=tip.rev + 1 + i, hash=h, payload=p)
            for i, (p, h) in enumerate(zip(payloads, hashes, strict=True))
        ]
        batch_id = new_id().encode()
        last = len(payloads)
        self.messages: list[tuple[bytes, bytes]] = []
        for n, event in enumerate(self.events, 1):
            header = b"NATS/1.0\r\n%s: %s\r\n%s: %s\r\n%s: %d\r\n" % (
                _HASH,
                event.hash.hex().encode(),
                _BATCH_ID,
                batch_id,
                _BATCH_SEQ,
                n,
            )
            if n == 1:
                header += b"%s: %d\r\n" % (_EXPECTED, event.rev - 1)
            if n == last:
                header += b"%s: 1\r\n" % _BATCH_COMMIT
            self.messages.append((header + b"\r\n", event.payload))


async def publish_batches(
    log: AppendTarget,
    head: Tip,
    ids: list[str],
    payloads: list[bytes],
    done: list[RecordedEvent],
) -> bool:
    """Publish `payloads[len(done):]` (encoded for the revisions after `head`) batch by batch, appending what was stored to `done`; stops early at a conflict.
    Returns whether the stream takes atomic batches at all. Raises `LogUnavailable` when a
    batch's outcome cannot be known."""
    wire = log.wire()
    start = len(done)
    nxt: _Prepared | None = _Prepared(head, payloads[start : start + BATCH_SIZE], start)
    while nxt is not None:
        batch = nxt
        reply = await wire.send_batch(log.subject, batch.messages)
        end = batch.start + len(batch.events)
        tip = batch.events[-1]
        # Hash and frame the next batch while the server stores this one.
        nxt = None
        if end < len(payloads):
            nxt = _Prepared(tip, payloads[end : end + BATCH_SIZE], end)
        try:
            ack = await _ack(log, reply)
        except LogUnavailable:
            # The commit may have been stored with its ack lost: look before giving up.
            if await log.stored_id(batch.events[0].rev) != ids[batch.start]:
                raise
        else:
            error = ack.get("error")
            if error is not None:
                code = error.get("err_code")
                if code == ERR_WRONG_LAST_SEQUENCE:
                    return True
                if code == ERR_BATCH_DISABLED:
                    return False
                raise LogError(f"JetStream refused a batch for {log.stream}: {error}")
            if int(ack.get("seq", 0)) != tip.rev:
                raise LogError(f"{log.stream} committed a batch at {ack.get('seq')}, not {tip.rev}")
        done.extend(batch.events)
    return True


async def _ack(log: AppendTarget, reply: asyncio.Future[bytes]) -> dict[str, object]:
    try:
        data = await asyncio.wait_for(reply, log.publish_timeout)
    except TimeoutError:
        raise LogUnavailable(f"no answer to a batch commit on {log.stream}") from None
    if data.startswith(b"NATS/1.0"):  # a status instead of an ack: 503, no stream takes it
        await stream_info(log.js, log.stream)  # ChapterNotFound, or JetStream restarting
        raise LogUnavailable(f"JetStream does not take appends to {log.stream} now")
    return dict(json.loads(data))
